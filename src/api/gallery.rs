//! The gallery page at `/`: HTML, CSS and JavaScript compiled into the
//! binary, nothing fetched from elsewhere at run time.

use actix_web::{
    HttpResponse,
    http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY},
    web,
};

const INDEX: &str = include_str!("../../assets/gallery/index.html");
const CSS: &str = include_str!("../../assets/gallery/gallery.css");
const JS: &str = include_str!("../../assets/gallery/gallery.js");
/// The shared worker that holds one `/api/events` stream for all tabs.
const EVENTS_JS: &str = include_str!("../../assets/gallery/events.js");

/// Scripts and styles only from imaged; uploads may go to the bucket a
/// presigned URL names, so `connect-src` is open.
const POLICY: &str =
    "default-src 'self'; img-src 'self' data:; connect-src *; frame-ancestors 'none'; form-action 'self'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/assets/gallery.css", web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/assets/gallery.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", JS) }))
        .route(
            "/assets/gallery-events.js",
            web::get().to(|| async { asset("text/javascript; charset=utf-8", EVENTS_JS) }),
        );
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CONTENT_SECURITY_POLICY, POLICY))
        // Revalidated each time: a new imaged brings its own page.
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

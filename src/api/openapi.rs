//! The OpenAPI document (paths relative to the `/api` base, as CloudX's
//! swagger.yml has them; the health probes, which live at the root, say
//! so with a server of their own) and Swagger UI, its assets compiled in.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{direct, file, health, image, notification, stats, thumbnails, upload};

#[derive(OpenApi)]
#[openapi(
    info(title = "imaged", description = "CloudX-compatible image API with thumbnails."),
    servers((url = "/api")),
    paths(
        image::list, upload::upload, direct::upload_url, direct::put, image::get, image::delete, file::download,
        thumbnails::status, file::thumbnail,
        notification::list, notification::subscribe, notification::unsubscribe,
        stats::stats, health::healthz, health::readyz,
    )
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let doc = ApiDoc::openapi();
    cfg.service(SwaggerUi::new("/api/ui/{_:.*}").url("/api/openapi.json", doc.clone()))
        .app_data(web::Data::new(doc))
        .route("/api/swagger.json", web::get().to(swagger_json))
        .route(
            "/api/ui",
            web::get()
                .to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/api/ui/")).finish() }),
        );
}

async fn swagger_json(doc: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}

//! CORS for browser clients on other origins (`http.cors_origins`). Off
//! by default, as in CloudX: a page served by imaged itself needs none.

use actix_cors::Cors;
use actix_web::{http::header, middleware::Condition};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 3600;

/// The middleware for the configured origins ("*" for any); a pass-through
/// when there are none.
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER, header::HeaderName::from_static("x-request-id")])
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    for origin in origins {
        cors = if origin == "*" { cors.allow_any_origin() } else { cors.allowed_origin(origin) };
    }
    Condition::new(!origins.is_empty(), cors)
}

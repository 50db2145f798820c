//! The OpenAPI document (paths relative to the `/api` base, as CloudX's
//! swagger.yml has them; the health probes, which live at the root, say
//! so with a server of their own) and Swagger UI, its assets compiled in.

use actix_web::{HttpResponse, web};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        Content, Ref, RefOr, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::SwaggerUi;

use super::{direct, events, file, health, image, list, notification, stats, thumbnails, upload};

#[derive(OpenApi)]
#[openapi(
    info(title = "imaged", description = "CloudX-compatible image API with thumbnails."),
    servers((url = "/api")),
    paths(
        image::list, list::page, events::events, upload::upload, direct::upload_url, direct::put, image::get, image::delete, file::download,
        thumbnails::status, file::thumbnail,
        notification::list, notification::subscribe, notification::unsubscribe,
        stats::stats, health::healthz, health::readyz,
    ),
    modifiers(&BearerTokens)
)]
pub struct ApiDoc;

/// The scheme the guarded operations name: `security(("bearer_token" = []))`
/// (utoipa takes only a literal there).
const BEARER: &str = "bearer_token";

/// `http.api_tokens` as a bearer scheme (Swagger UI's Authorize button),
/// and its 401 on every operation that names it, written once here.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
            "One of http.api_tokens, when set; the operations that name it then answer 401 without it.",
        ));
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme.build()));
        let unauthorized = ResponseBuilder::new()
            .description("http.api_tokens is set and the request carries none of them as `Authorization: Bearer …`")
            .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
            .build();
        for item in doc.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete];
            for operation in operations.into_iter().flatten().filter(|o| o.security.is_some()) {
                operation.responses.responses.insert("401".into(), RefOr::T(unauthorized.clone()));
            }
        }
    }
}

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

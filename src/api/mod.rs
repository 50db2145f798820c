//! The HTTP API: the CloudX image routes, imaged's own additions, health,
//! and the OpenAPI document. One file per resource.

mod auth;
mod body;
mod conditional;
mod cors;
mod direct;
mod error;
mod events;
mod file;
mod gallery;
mod health;
mod image;
mod list;
mod metrics;
mod negotiate;
mod notification;
mod object;
mod openapi;
mod request_id;
mod stats;
mod thumbnails;
mod upload;

use std::{path::PathBuf, sync::Arc, time::Duration};

use actix_web::web;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use auth::ApiTokens;
pub use cors::cors;
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use upload::open_spool;

use crate::{backends::Backends, config::Settings, feed::Feed, images::Images, liveness::Liveness};

/// What the handlers share.
pub struct AppState {
    /// Every change of an image's state goes through it.
    pub images: Arc<Images>,
    /// What the handlers read (and the notification routes change).
    pub backends: Backends,
    /// What each background loop is doing, for `/readyz`.
    pub liveness: Liveness,
    pub max_upload_bytes: usize,
    /// Where uploads are received (see [`upload::open_spool`]).
    pub spool: PathBuf,
    /// Bytes of uploads being received, all requests together.
    pub upload_budget: Arc<Semaphore>,
    /// How fast an upload body must come.
    pub pace: body::Pace,
    /// Cancelled when shutdown begins: `/readyz` then answers 503.
    pub draining: CancellationToken,
    /// Empty: the mutating routes are open, as CloudX's are.
    pub api_tokens: ApiTokens,
    /// How far back `/api/stats` reads job durations.
    pub stats_window: Duration,
    /// Direct uploads to imaged itself (the file store).
    pub grants: direct::Grants,
    /// The changes `/api/events` streams; its reader is started with the host.
    pub feed: Feed,
    /// Permits of `http.max_event_streams`, one per open stream.
    pub event_streams: Arc<Semaphore>,
}

impl AppState {
    pub fn new(
        backends: &Backends,
        images: Arc<Images>,
        settings: &Settings,
        liveness: Liveness,
        api_tokens: ApiTokens,
        draining: CancellationToken,
        spool: PathBuf,
    ) -> Self {
        let budget = settings.http.upload_bytes_in_flight.min(Semaphore::MAX_PERMITS);
        Self {
            liveness,
            images,
            backends: backends.clone(),
            max_upload_bytes: settings.processing.max_upload_bytes,
            spool,
            upload_budget: Arc::new(Semaphore::new(budget)),
            pace: body::Pace::new(&settings.http),
            draining,
            api_tokens,
            stats_window: Duration::from_secs(settings.http.stats_window_secs),
            grants: direct::Grants::new(Duration::from_secs(settings.http.upload_url_expiry_secs)),
            feed: Feed::default(),
            event_streams: Arc::new(Semaphore::new(settings.http.max_event_streams.min(Semaphore::MAX_PERMITS))),
        }
    }
}

/// Ids are non-negative integers: anything else never matches a route and
/// gets the same 404 as an unknown path.
const ID: &str = r"{id:\d{1,18}}";

pub fn configure(cfg: &mut web::ServiceConfig) {
    use auth::guarded;
    use web::{delete, get, head, post, put, resource};
    cfg.service(resource("/api/image").route(get().to(image::list)).route(guarded(post().to(upload::upload))))
        .service(resource("/api/images").route(get().to(list::page)))
        .service(resource("/api/events").route(get().to(events::events)))
        .service(resource("/api/image/upload_url").route(guarded(get().to(direct::upload_url))))
        // A direct upload carries its own signed grant instead of a token.
        .service(resource("/api/image/direct/{grant}").route(put().to(direct::put)))
        .service(
            resource(format!("/api/image/file/{ID}")).route(get().to(file::download)).route(head().to(file::download)),
        )
        .service(
            resource(format!("/api/image/{ID}")).route(get().to(image::get)).route(guarded(delete().to(image::delete))),
        )
        .service(resource(format!("/api/image/{ID}/thumbnails")).route(get().to(thumbnails::status)))
        .service(
            resource(format!(r"/api/image/{ID}/thumbnail/{{size:\d{{1,9}}}}"))
                .route(get().to(file::thumbnail))
                .route(head().to(file::thumbnail)),
        )
        // Subscribers' addresses are not for everyone once there are tokens.
        .service(resource("/api/notification").route(guarded(get().to(notification::list))))
        .service(
            resource("/api/notification/{email}")
                .route(guarded(post().to(notification::subscribe)))
                .route(guarded(delete().to(notification::unsubscribe))),
        )
        .service(resource("/api/stats").route(get().to(stats::stats)))
        .service(resource("/healthz").route(get().to(health::healthz)))
        .service(resource("/readyz").route(get().to(health::readyz)));
    // A missing or malformed query parameter is a problem document, as
    // every other bad request.
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| ApiError::BadRequest(err.to_string()).into()));
    openapi::configure(cfg);
    gallery::configure(cfg);
    cfg.default_service(web::to(error::no_route));
}

pub use metrics::record as metrics_middleware;
pub use request_id::assign as request_id_middleware;

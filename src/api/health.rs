//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health", servers((url = "/")),
    responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Every backend answers, and imaged is not draining.
///
/// A load balancer stops sending requests on 503; what failed is named,
/// and why is logged.
#[utoipa::path(get, path = "/readyz", tag = "health", servers((url = "/")),
    responses((status = 200, description = "ready"),
        (status = 503, description = "draining for shutdown, or a backend is unreachable")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.draining.is_cancelled() {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "draining" }));
    }
    let mut failures = Vec::new();
    if let Err(err) = state.backends.meta.check().await {
        tracing::warn!(error = %err, "readiness: the database does not answer");
        failures.push("database");
    }
    if let Err(err) = state.backends.blobs.check().await {
        tracing::warn!(error = %err, "readiness: the blob store does not answer");
        failures.push("storage");
    }
    if let Err(err) = state.backends.queue.stats().await {
        tracing::warn!(error = %err, "readiness: the queue does not answer");
        failures.push("queue");
    }
    // What the background loops are doing; a stuck one is for the watchdog
    // to act on, and is logged here with what it did last.
    let workers = state.liveness.report();
    for stuck in workers.iter().filter(|w| w.stuck) {
        tracing::warn!(
            worker = stuck.name,
            state = stuck.state,
            for_secs = stuck.for_secs,
            finished = stuck.finished,
            "readiness: a worker is stuck"
        );
    }
    if failures.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready", "workers": workers }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "failures": failures, "workers": workers }))
    }
}

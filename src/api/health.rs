//! Liveness, readiness and a small stats document.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{ApiError, AppState};
use crate::queue::QueueStats;

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health", servers((url = "/")),
    responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Every backend answers.
#[utoipa::path(get, path = "/readyz", tag = "health", servers((url = "/")),
    responses((status = 200, description = "ready"), (status = 503, description = "a backend is unreachable")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut failures = BTreeMap::new();
    if let Err(err) = state.meta.check().await {
        failures.insert("database", err.to_string());
    }
    if let Err(err) = state.blobs.check().await {
        failures.insert("storage", err.to_string());
    }
    if let Err(err) = state.queue.stats().await {
        failures.insert("queue", err.to_string());
    }
    if failures.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "failures": failures }))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    queue: QueueStats,
    /// Jobs by status.
    jobs: BTreeMap<String, i64>,
}

#[utoipa::path(get, path = "/stats", tag = "health", responses((status = 200, body = Stats)))]
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let queue = state.queue.stats().await?;
    let jobs = state.meta.job_counts().await?.into_iter().collect();
    Ok(HttpResponse::Ok().json(Stats { queue, jobs }))
}

//! Request counts and latency by route pattern (not by raw path, which
//! would give every image id a series of its own), as `request_id` found
//! it for the log.

use std::time::Instant;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

use super::request_id;
use crate::telemetry::{HTTP_REQUEST_SECONDS, HTTP_REQUESTS_TOTAL};

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let route = request_id::route(&req);
    let response = next.call(req).await?;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route).record(started.elapsed().as_secs_f64());
    Ok(response)
}

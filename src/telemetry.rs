//! Logs and metrics. Every metric name lives here, each described once at
//! start, so dashboards and alerts have one place to agree with.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogSettings;

/// Jobs finished, by `outcome`: done, failed, skipped, retry, released.
pub const JOBS_TOTAL: &str = "imaged_jobs_total";
/// Seconds per pipeline `stage`: receive (from send until a poller took the
/// message), fetch, decode, resize, encode, put, persist, notify.
pub const JOB_STAGE_SECONDS: &str = "imaged_job_stage_seconds";
pub const JOBS_IN_FLIGHT: &str = "imaged_jobs_in_flight";
/// Megapixels of the pixel budget held by running jobs.
pub const PIXEL_BUDGET_USED: &str = "imaged_pixel_budget_used";
/// Queue messages by `result`: received, deleted, released, retried, invalid.
pub const QUEUE_MESSAGES_TOTAL: &str = "imaged_queue_messages_total";
pub const HTTP_REQUESTS_TOTAL: &str = "imaged_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "imaged_http_request_seconds";
/// Poller restarts by the supervisor.
pub const POLLER_RESTARTS_TOTAL: &str = "imaged_poller_restarts_total";

/// Histogram buckets, in seconds: from a fast HTTP call to a slow 50 MP job.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the log subscriber once per process; later calls are no-ops.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if settings.format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// The process-wide Prometheus recorder (the `metrics` facade allows one),
/// with every metric described.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).expect("buckets are not empty");
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (only possible in embedding
                // programs): render an empty one instead of failing.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            };
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(JOBS_TOTAL, "Jobs finished, by outcome.");
    describe_histogram!(JOB_STAGE_SECONDS, Unit::Seconds, "Time spent in each pipeline stage.");
    describe_gauge!(JOBS_IN_FLIGHT, "Jobs received and not yet finished.");
    describe_gauge!(PIXEL_BUDGET_USED, "Megapixels of the pixel budget held by running jobs.");
    describe_counter!(QUEUE_MESSAGES_TOTAL, "Queue messages, by what became of them.");
    describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests, by route pattern and status.");
    describe_histogram!(HTTP_REQUEST_SECONDS, Unit::Seconds, "HTTP request latency, by route pattern.");
    describe_counter!(POLLER_RESTARTS_TOTAL, "Queue pollers restarted by the supervisor.");
}

/// Records how long a stage took.
pub fn stage(stage: &'static str, elapsed: std::time::Duration) {
    metrics::histogram!(JOB_STAGE_SECONDS, "stage" => stage).record(elapsed.as_secs_f64());
}

//! Logs and metrics. Every metric name lives here, each described once at
//! start, so dashboards and alerts have one place to agree with.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, LogSettings};

/// Jobs finished, by `outcome`: done, failed, skipped, duplicate (another
/// delivery made them), retry, released.
pub const JOBS_TOTAL: &str = "imaged_jobs_total";
/// Jobs failed for good, by `reason`: unsupported, too_large, truncated,
/// corrupt, encode, panic, missing, bad_key, gave_up (retries exhausted).
pub const JOB_FAILURES_TOTAL: &str = "imaged_job_failures_total";
/// Seconds per pipeline `stage`: receive (from send until a poller took the
/// message), fetch, decode, resize, encode, put, persist, notify.
pub const JOB_STAGE_SECONDS: &str = "imaged_job_stage_seconds";
pub const JOBS_IN_FLIGHT: &str = "imaged_jobs_in_flight";
/// Working memory held by running jobs, and the budget's size.
pub const PIXEL_BUDGET_USED_BYTES: &str = "imaged_pixel_budget_used_bytes";
pub const PIXEL_BUDGET_BYTES: &str = "imaged_pixel_budget_bytes";
/// Queue messages by `result`: received, deleted, released, retried, invalid.
pub const QUEUE_MESSAGES_TOTAL: &str = "imaged_queue_messages_total";
/// By `route` pattern and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "imaged_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "imaged_http_request_seconds";
/// Upload bytes being received, against `http.upload_bytes_in_flight`.
pub const UPLOAD_BYTES_IN_FLIGHT: &str = "imaged_http_upload_in_flight_bytes";
/// `/api/events` streams open on this host, against `http.max_event_streams`.
pub const EVENT_STREAMS: &str = "imaged_http_event_streams";
/// `/api/events` requests refused (503) because the host had its most open.
pub const EVENT_STREAMS_REFUSED_TOTAL: &str = "imaged_http_event_streams_refused_total";
/// Units of background work that failed, by `worker`; each is backed off.
pub const WORKER_ERRORS_TOTAL: &str = "imaged_worker_errors_total";
/// 1 for the `state` each background `worker` is in, 0 for the others.
pub const WORKER_STATE: &str = "imaged_worker_state";
/// What the reconciler did: requeued, gave_up, orphan_removed.
pub const RECONCILED_TOTAL: &str = "imaged_reconciled_total";
/// The queue as it stands, read at each scrape.
pub const QUEUE_DEPTH: &str = "imaged_queue_depth";
pub const QUEUE_IN_FLIGHT: &str = "imaged_queue_in_flight";
pub const QUEUE_DEAD_LETTERS: &str = "imaged_queue_dead_letters";
/// Not exported on SQS, which tells the age only through CloudWatch.
pub const QUEUE_OLDEST_AGE_SECONDS: &str = "imaged_queue_oldest_age_seconds";
/// 1 when the last read of the queue's figures succeeded.
pub const QUEUE_UP: &str = "imaged_queue_up";
/// Always 1, labelled with the version: which build answers.
pub const BUILD_INFO: &str = "imaged_build_info";
// Beside these, the process' own (`process_resident_memory_bytes`,
// `process_cpu_seconds_total`, `process_open_fds`, ...), named as every
// Prometheus client names them, from metrics-process.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family: its help text and its unit, which its name ends with
/// (`_seconds`, `_bytes`; a counter's with `_total`).
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    pub help: &'static str,
}

const fn family(name: &'static str, kind: Kind, unit: Unit, help: &'static str) -> Family {
    Family { name, kind, unit, help }
}

/// Every family imaged exports itself.
pub const FAMILIES: &[Family] = &[
    family(JOBS_TOTAL, Kind::Counter, Unit::Count, "Jobs finished, by outcome."),
    family(JOB_FAILURES_TOTAL, Kind::Counter, Unit::Count, "Jobs failed for good, by reason."),
    family(JOB_STAGE_SECONDS, Kind::Histogram, Unit::Seconds, "Time spent in each pipeline stage."),
    family(JOBS_IN_FLIGHT, Kind::Gauge, Unit::Count, "Jobs received and not yet finished."),
    family(
        PIXEL_BUDGET_USED_BYTES,
        Kind::Gauge,
        Unit::Bytes,
        "Working memory of the pixel budget held by running jobs.",
    ),
    family(PIXEL_BUDGET_BYTES, Kind::Gauge, Unit::Bytes, "Size of the pixel budget (processing.pixel_budget_mp)."),
    family(QUEUE_MESSAGES_TOTAL, Kind::Counter, Unit::Count, "Queue messages, by what became of them."),
    family(HTTP_REQUESTS_TOTAL, Kind::Counter, Unit::Count, "HTTP requests, by route pattern and status."),
    family(HTTP_REQUEST_SECONDS, Kind::Histogram, Unit::Seconds, "HTTP request latency, by route pattern."),
    family(UPLOAD_BYTES_IN_FLIGHT, Kind::Gauge, Unit::Bytes, "Upload bytes being received, all requests together."),
    family(EVENT_STREAMS, Kind::Gauge, Unit::Count, "Event streams (/api/events) open on this host."),
    family(
        EVENT_STREAMS_REFUSED_TOTAL,
        Kind::Counter,
        Unit::Count,
        "Event streams refused because http.max_event_streams were open.",
    ),
    family(
        WORKER_ERRORS_TOTAL,
        Kind::Counter,
        Unit::Count,
        "Background work that failed and was backed off, by worker.",
    ),
    family(WORKER_STATE, Kind::Gauge, Unit::Count, "The state each background worker is in (1), by worker and state."),
    family(
        RECONCILED_TOTAL,
        Kind::Counter,
        Unit::Count,
        "Stuck jobs queued again or failed, and orphans removed, by action.",
    ),
    family(QUEUE_DEPTH, Kind::Gauge, Unit::Count, "Messages waiting in the queue."),
    family(QUEUE_IN_FLIGHT, Kind::Gauge, Unit::Count, "Messages received and not yet deleted or visible again."),
    family(QUEUE_DEAD_LETTERS, Kind::Gauge, Unit::Count, "Messages in the dead-letter queue."),
    family(QUEUE_OLDEST_AGE_SECONDS, Kind::Gauge, Unit::Seconds, "Age of the oldest message in the queue."),
    family(QUEUE_UP, Kind::Gauge, Unit::Count, "1 when the queue's figures could be read at the last scrape, else 0."),
    family(
        BUILD_INFO,
        Kind::Gauge,
        Unit::Count,
        "Always 1; its labels say which build this is: version, simd (libjpeg-turbo's SIMD code in use), and \
         libheif (the version that reads HEIC and AVIF here, or none).",
    ),
];

/// Histogram buckets, in seconds: from a fast HTTP call to a slow 50 MP job.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the log subscriber once per process; later calls are no-ops.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    // A log that cannot be written is dropped: by default the subscriber
    // reports that with `eprintln!`, which panics once stderr is gone (a
    // journald restart, a closed pipe) and takes the logging task with it.
    // Colours only on a terminal: a file or journald would keep the codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).log_internal_errors(false);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
    for f in FAMILIES {
        match f.kind {
            Kind::Counter => describe_counter!(f.name, f.unit, f.help),
            Kind::Gauge => describe_gauge!(f.name, f.unit, f.help),
            Kind::Histogram => describe_histogram!(f.name, f.unit, f.help),
        }
    }
    // Exported from the start, so that a panel has a series and
    // `increase()` sees the first refusal.
    metrics::gauge!(EVENT_STREAMS).increment(0.0);
    metrics::counter!(EVENT_STREAMS_REFUSED_TOTAL).increment(0);
    let simd = crate::imaging::jpeg::simd().to_string();
    let libheif = crate::imaging::heif_library().unwrap_or("none");
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "simd" => simd, "libheif" => libheif).set(1.0);
    process().describe();
}

fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Refreshes the process figures, at each scrape.
pub fn record_process() {
    process().collect();
}

/// Counts a job failed for good.
pub fn job_failed(cause: &'static str) {
    metrics::counter!(JOB_FAILURES_TOTAL, "reason" => cause).increment(1);
}

/// Records how long a stage took.
pub fn stage(stage: &'static str, elapsed: std::time::Duration) {
    metrics::histogram!(JOB_STAGE_SECONDS, "stage" => stage).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_says_its_unit() {
        for f in FAMILIES {
            let suffix = match (f.kind, f.unit) {
                (Kind::Counter, _) => "_total",
                (_, Unit::Seconds) => "_seconds",
                (_, Unit::Bytes) => "_bytes",
                (_, Unit::Count) => continue,
                (_, unit) => panic!("{}: no naming rule for {unit:?}", f.name),
            };
            assert!(f.name.starts_with("imaged_") && f.name.ends_with(suffix), "{} should end with {suffix}", f.name);
            assert!(f.help.ends_with('.'), "{}: help text", f.name);
        }
    }
}

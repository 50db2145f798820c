//! imaged: an image thumbnail daemon and drop-in for the CloudX image API.
//!
//! - `config`    settings, layered and validated
//! - `backends`  the four seams, each chosen once from settings
//! - `startup`   the one wiring path: pollers, servers; run until stopped
//! - `shutdown`  signals and cancellation
//! - `systemd`   READY/STOPPING/STATUS notifications and the watchdog
//! - `workers`   every background loop as a `Worker`, run by one `Runner`
//! - `liveness`  what each background loop is doing, for the watchdog
//! - `telemetry` logging and every metric name
//! - `cli`       the command line (serve, migrate, check-config, thumbnail, dlq)
//! - `api`       HTTP handlers, one file per resource; errors → status codes
//! - `messages`  queue bodies, one leaf file per format
//! - `images`    an image's life: accept, make, delete, forget, repair; every removal of its blobs
//! - `feed`      the change feed, read once per host and pushed to `/api/events`
//! - `jobs`      the job pipeline, the reconciler, retry-or-abort errors
//! - `imaging`   the resize core (probe, decode, resize, encode) and its CPU pool
//! - `keys`      object keys of originals and variants
//! - `testing`   one decorator, with a hook, around each seam: the tests' faults
//! - `fuzz`      the properties the fuzz targets check (also run on their seeds by the tests)
//! - `aws`       the SDK configuration, Secrets Manager and EC2 metadata lookups
//! - the seams, each a trait with one file per backend:
//!   `storage` (`BlobStore`), `db` (`MetaRepo`), `queue` (`JobQueue`), `notify` (`Notifier`)

pub mod api;
pub mod aws;
pub mod backends;
pub mod cli;
pub mod config;
pub mod db;
pub mod feed;
#[doc(hidden)]
pub mod fuzz;
pub mod images;
pub mod imaging;
pub mod jobs;
pub mod keys;
pub mod liveness;
pub mod messages;
pub mod notify;
pub mod queue;
pub mod shutdown;
pub mod startup;
pub mod storage;
pub mod systemd;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;
pub mod workers;

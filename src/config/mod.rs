//! Settings, layered: `config/default.toml` (compiled in: every key and its
//! default, written once) → `--config FILE` → the CloudX app's environment
//! variables (`cloudx`) → `IMAGED__SECTION__KEY` variables. Unknown keys
//! are refused so a typo is an error, not a silent default.

mod cloudx;
mod database;
mod load;
mod parse;
mod validate;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use crate::imaging::Format;
use secrecy::SecretString;
use serde::Deserialize;

pub use database::{CaBundle, DatabaseSettings, DatabaseTls, RDS_CA_BUNDLE};
pub use parse::DatabaseUrl;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded backends keep their files.
    pub data_dir: PathBuf,
    /// The CloudX app's `config.yaml`, read as more environment.
    pub cloudx_config: PathBuf,
    pub http: HttpSettings,
    pub metrics: MetricsSettings,
    pub storage: StorageSettings,
    pub database: DatabaseSettings,
    pub queue: QueueSettings,
    pub notify: NotifySettings,
    pub aws: AwsSettings,
    pub processing: ProcessingSettings,
    pub reconcile: ReconcileSettings,
    pub log: LogSettings,
    /// Settings decided from others rather than given, each with why (for
    /// `check-config` and the start-up log).
    #[serde(skip)]
    pub decided: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[serde(deserialize_with = "parse::address")]
    pub bind: SocketAddr,
    /// Base of the `download_link` in queue messages; "" → the EC2 public
    /// hostname, else the bind address. Never a client's header.
    pub public_url: String,
    /// HTTP worker threads; 0 → one per core.
    pub workers: usize,
    /// Upload bytes all requests together may hold; beyond, 503.
    pub upload_bytes_in_flight: usize,
    /// An upload body that sends nothing for this long is cut off (408).
    pub body_idle_secs: u64,
    /// ... or that comes slower than this on average, after its first
    /// `body_idle_secs`; 0 → no minimum.
    pub body_min_bytes_per_sec: u64,
    /// ... or that takes longer than this altogether.
    pub body_deadline_secs: u64,
    /// Bearer tokens for the mutating routes, comma-separated; "" → open.
    pub api_tokens: SecretString,
    /// Secrets Manager id of a JSON secret whose `api_tokens` key holds more.
    pub api_tokens_secret: String,
    /// `/api/stats` gives the processing times of jobs done this recently.
    pub stats_window_secs: u64,
    /// How long a URL from `/api/image/upload_url` can be used.
    pub upload_url_expiry_secs: u64,
    /// Origins whose pages may call the API ("*": any), given
    /// comma-separated; none → no CORS headers.
    #[serde(deserialize_with = "parse::origins")]
    pub cors_origins: Vec<String>,
    /// `/api/events` streams one host keeps open at once; beyond, 503.
    pub max_event_streams: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Prometheus listener; "" disables it.
    #[serde(deserialize_with = "parse::optional_address")]
    pub bind: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Fs,
    S3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub backend: StorageBackend,
    pub bucket: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    Embedded,
    Sqs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    pub url: String,
    /// Queue pollers on this host; 0 makes an API-only host.
    pub pollers: usize,
    pub batch_size: usize,
    pub wait_secs: u64,
    pub visibility_timeout_secs: u64,
    /// Receives after which a message goes to the dead letters; an SQS
    /// queue's redrive policy, when it has one, decides instead.
    pub max_receives: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyBackend {
    Log,
    Sns,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    pub backend: NotifyBackend,
    pub topic_arn: String,
    /// Log backend only: false leaves new subscriptions pending, as SNS
    /// does until the address owner confirms.
    pub auto_confirm: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// "" → the SDK's chain.
    pub region: String,
    /// An S3/SQS/SNS-compatible endpoint; S3 then uses path-style requests.
    pub endpoint_url: String,
    /// EC2 instance metadata, where the public hostname is looked up; ""
    /// → the SDK's.
    pub metadata_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingSettings {
    /// Longest side of each variant, in pixels.
    #[serde(deserialize_with = "parse::sizes")]
    pub sizes: Vec<u32>,
    /// What each variant is written as; JPEG always among them.
    #[serde(deserialize_with = "parse::formats")]
    pub formats: Vec<Format>,
    pub quality: u8,
    /// CPU threads for decoding and resizing; 0 → one per core.
    pub workers: usize,
    /// Working memory of running jobs, in megapixels of 4 bytes.
    pub pixel_budget_mp: u32,
    pub max_pixels: u64,
    pub max_upload_bytes: usize,
    /// How long running jobs may take to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// While jobs run, one must finish this often, or the watchdog stops.
    pub stall_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Seconds between passes; 0 → no reconciler on this host.
    pub interval_secs: u64,
    /// A job untouched this long is queued again; a journaled original
    /// without a row this old is removed.
    pub stuck_after_secs: u64,
    /// Requeues of a job that started and stalled before it is failed.
    pub max_requeues: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(deserialize_with = "parse::log_format")]
    pub format: LogFormat,
    /// A tracing filter, e.g. "info" or "imaged=debug,info"; `RUST_LOG` wins.
    pub level: String,
}

impl Default for Settings {
    /// The compiled-in defaults alone.
    fn default() -> Self {
        Self::load_from(None, HashMap::new()).expect("config/default.toml is valid")
    }
}

impl Settings {
    /// Whether an embedded backend needs the local SQLite file.
    pub fn needs_local_db(&self) -> bool {
        !matches!(self.database.url, DatabaseUrl::Mysql(_))
            || self.queue.backend == QueueBackend::Embedded
            || self.notify.backend == NotifyBackend::Log
    }

    /// Whether any backend talks to AWS (or an AWS-compatible endpoint).
    pub fn uses_aws(&self) -> bool {
        self.storage.backend == StorageBackend::S3
            || self.queue.backend == QueueBackend::Sqs
            || self.notify.backend == NotifyBackend::Sns
            || (matches!(self.database.url, DatabaseUrl::Mysql(_)) && !self.database.password_secret.is_empty())
            || !self.http.api_tokens_secret.is_empty()
    }

    /// Where the file store keeps its blobs.
    pub fn blobs_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// Where uploads are received before the store takes them.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("uploads.incoming")
    }

    /// The local SQLite file, unless `database.url` names another.
    pub fn local_database(&self) -> PathBuf {
        self.data_dir.join("imaged.db")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn built_in_defaults_apply_without_files() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.processing.sizes, vec![128, 256, 1024]);
        assert_eq!(s.processing.formats, [Format::Jpeg, Format::Webp]);
        assert_eq!(s.processing.quality, 82);
        assert_eq!(s.http.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.queue.backend, QueueBackend::Embedded);
        assert_eq!(s.storage.backend, StorageBackend::Fs);
        assert_eq!(s.database.url, DatabaseUrl::Local);
        assert!(!s.uses_aws());
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "site.toml",
            "[processing]\nquality = 75\nsizes = [64]\nformats = [\"jpeg\"]\n[http]\nworkers = 3\n",
        );
        let s = Settings::load_from(
            Some(&file),
            env(&[("IMAGED__HTTP__BIND", "0.0.0.0:9000"), ("IMAGED__PROCESSING__SIZES", "100,200"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!((s.http.workers, s.processing.quality), (3, 75), "the file beats the defaults");
        assert_eq!(s.processing.formats, [Format::Jpeg]);
        assert_eq!(s.processing.sizes, vec![100, 200], "the environment beats the file");
        assert_eq!(s.http.bind.to_string(), "0.0.0.0:9000");
        let s = Settings::load_from(Some(&file), env(&[("IMAGED__PROCESSING__FORMATS", "webp, JPG")])).unwrap();
        assert_eq!(s.processing.formats, [Format::Webp, Format::Jpeg], "a list in the environment");
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = Settings::load_from(None, env(&[("IMAGED__PROCESSING__QUALITY", "300")])).unwrap_err();
        assert!(err.to_string().contains("processing.quality"), "{err}");
        let typo = write(dir.path(), "typo.toml", "[processing]\nqualty = 80\n");
        let err = Settings::load_from(Some(&typo), env(&[])).unwrap_err();
        assert!(err.to_string().contains("qualty"), "{err}");
        for (var, value, key) in [
            ("IMAGED__HTTP__BIND", "nowhere", "http.bind"),
            ("IMAGED__QUEUE__BACKEND", "kafka", "kafka"),
            ("IMAGED__QUEUE__MAX_RECEIVES", "0", "queue.max_receives"),
            ("IMAGED__QUEUE__WAIT_SECS", "21", "queue.wait_secs"),
            ("IMAGED__QUEUE__BATCH_SIZE", "11", "queue.batch_size"),
            ("IMAGED__PROCESSING__MAX_UPLOAD_BYTES", "0", "processing.max_upload_bytes"),
            ("IMAGED__STORAGE__BACKEND", "s3", "storage.bucket"),
            ("IMAGED__QUEUE__BACKEND", "sqs", "queue.url"),
            ("IMAGED__NOTIFY__BACKEND", "sns", "notify.topic_arn"),
            ("IMAGED__DATABASE__URL", "postgres://x", "database.url"),
            ("IMAGED__PROCESSING__FORMATS", "webp", "processing.formats"),
            ("IMAGED__PROCESSING__FORMATS", "jpeg,jpeg", "processing.formats"),
            ("IMAGED__PROCESSING__FORMATS", "jpeg,gif", "\"gif\" is not a thumbnail format"),
        ] {
            let err = Settings::load_from(None, env(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{var}={value}: {err}");
        }
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Settings::load_from(Some(&dir.path().join("nope.toml")), env(&[])).is_err());
    }

    #[test]
    fn the_production_example_is_valid() {
        let example = Path::new("config/production.toml");
        let s = Settings::load_from(Some(example), env(&[])).unwrap();
        assert_eq!(
            (s.storage.backend, s.queue.backend, s.notify.backend),
            (StorageBackend::S3, QueueBackend::Sqs, NotifyBackend::Sns)
        );
        assert!(matches!(s.database.url, DatabaseUrl::Mysql(_)));
        assert_eq!((s.database.tls(), s.database.ca()), (DatabaseTls::VerifyIdentity, CaBundle::Rds));
        assert!(!s.needs_local_db());
    }

    #[test]
    fn values_that_look_like_numbers_stay_text() {
        let s = Settings::load_from(
            None,
            env(&[
                ("IMAGED__DATABASE__URL", "mysql://u@h/db"),
                ("IMAGED__DATABASE__PASSWORD", "0123"),
                ("S3_BUCKET", "0123"),
                ("IMAGED__PROCESSING__SIZES", "256"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.password.expose_secret(), "0123");
        assert_eq!(s.storage.bucket, "0123");
        assert_eq!(s.processing.sizes, vec![256], "a single size is a list of one");
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let s = Settings::load_from(
            None,
            env(&[("IMAGED__DATABASE__URL", "mysql://u@h/db"), ("IMAGED__DATABASE__PASSWORD", "hunter2-secret")]),
        )
        .unwrap();
        assert_eq!(s.database.password.expose_secret(), "hunter2-secret");
        assert!(!format!("{s:?}").contains("hunter2-secret"));
        let s = Settings::load_from(None, env(&[("IMAGED__HTTP__API_TOKENS", "tok-en1,tok-en2")])).unwrap();
        assert_eq!(s.http.api_tokens.expose_secret(), "tok-en1,tok-en2");
        assert!(!format!("{s:?}").contains("tok-en1"));
    }
}

//! Settings: built-in defaults → `config/default.toml` (if present in the
//! working directory) → `--config FILE` → `IMAGED__SECTION__KEY` variables.
//! Unknown keys are refused so a typo is an error, not a silent default.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use config::{Config, Environment, File};
use serde::{Deserialize, Serialize};

/// The file read from the working directory when it exists.
pub const DEFAULT_FILE: &str = "config/default.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded backends keep their files.
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub metrics: MetricsSettings,
    pub storage: StorageSettings,
    pub database: DatabaseSettings,
    pub queue: QueueSettings,
    pub notify: NotifySettings,
    pub aws: AwsSettings,
    pub processing: ProcessingSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: String,
    /// Base of the `download_link` in queue messages; "" → the request's Host.
    pub public_url: String,
    /// HTTP worker threads; 0 → one per core.
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Prometheus listener; "" disables it.
    pub bind: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    pub backend: String,
    pub bucket: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// "" → SQLite in `data_dir`.
    pub url: String,
    pub password_secret: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    pub backend: String,
    pub url: String,
    /// Queue pollers on this host; 0 makes an API-only host.
    pub pollers: usize,
    pub batch_size: usize,
    pub wait_secs: u64,
    pub visibility_timeout_secs: u64,
    /// Receives after which a message goes to the dead-letter store.
    pub max_receives: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    pub backend: String,
    pub topic_arn: String,
    /// Embedded notifier only: false leaves new subscriptions pending, as
    /// SNS does until the address owner confirms.
    pub auto_confirm: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSettings {
    pub region: String,
    pub endpoint_url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessingSettings {
    /// Longest side of each variant, in pixels.
    pub sizes: Vec<u32>,
    pub quality: u8,
    /// CPU threads for decoding and resizing; 0 → one per core.
    pub workers: usize,
    /// Decoded megapixels that may be in memory at once.
    pub pixel_budget_mp: u32,
    pub max_pixels: u64,
    pub max_upload_bytes: usize,
    /// How long running jobs may take to finish on shutdown.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// "text" or "json".
    pub format: String,
    /// A tracing filter, e.g. "info" or "imaged=debug,info"; `RUST_LOG` wins.
    pub level: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            http: HttpSettings::default(),
            metrics: MetricsSettings::default(),
            storage: StorageSettings::default(),
            database: DatabaseSettings::default(),
            queue: QueueSettings::default(),
            notify: NotifySettings::default(),
            aws: AwsSettings::default(),
            processing: ProcessingSettings::default(),
            log: LogSettings::default(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { bind: "127.0.0.1:8080".into(), public_url: String::new(), workers: 0 }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { bind: "127.0.0.1:9464".into() }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self { backend: "fs".into(), bucket: String::new() }
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            url: String::new(),
            pollers: 1,
            batch_size: 10,
            wait_secs: 10,
            visibility_timeout_secs: 60,
            max_receives: 5,
        }
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { backend: "log".into(), topic_arn: String::new(), auto_confirm: true }
    }
}

impl Default for ProcessingSettings {
    fn default() -> Self {
        Self {
            sizes: vec![128, 256, 1024],
            quality: 82,
            workers: 0,
            pixel_budget_mp: 256,
            max_pixels: 50_000_000,
            max_upload_bytes: 52_428_800,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: "text".into(), level: "info".into() }
    }
}

impl Settings {
    /// Loads the layers from the process environment and validates them.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(Path::new(DEFAULT_FILE), file, std::env::vars().collect())
    }

    /// Like [`Settings::load`], with the default file and environment given.
    pub fn load_from(
        default_file: &Path,
        file: Option<&Path>,
        env: HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(File::from(default_file).required(false));
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).required(true));
        }
        let env = Environment::with_prefix("IMAGED")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("processing.sizes")
            .try_parsing(true)
            .source(Some(env));
        let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| Err(ConfigError::Invalid { key, reason: reason.into() });
        if self.http.bind.parse::<SocketAddr>().is_err() {
            return invalid("http.bind", "expected an address like 127.0.0.1:8080");
        }
        if !self.metrics.bind.is_empty() && self.metrics.bind.parse::<SocketAddr>().is_err() {
            return invalid("metrics.bind", "expected an address like 127.0.0.1:9464, or \"\"");
        }
        let p = &self.processing;
        if p.sizes.is_empty() || p.sizes.iter().any(|&s| s == 0 || s > 8192) {
            return invalid("processing.sizes", "expected one or more sizes in 1..=8192");
        }
        if !(1..=100).contains(&p.quality) {
            return invalid("processing.quality", "expected 1..=100");
        }
        if p.pixel_budget_mp == 0 {
            return invalid("processing.pixel_budget_mp", "must be at least 1");
        }
        if p.max_pixels == 0 {
            return invalid("processing.max_pixels", "must be at least 1");
        }
        if p.max_upload_bytes == 0 {
            return invalid("processing.max_upload_bytes", "must be at least 1");
        }
        if self.queue.batch_size == 0 || self.queue.batch_size > 10 {
            return invalid("queue.batch_size", "expected 1..=10 (the SQS maximum)");
        }
        if self.queue.visibility_timeout_secs < 3 {
            return invalid("queue.visibility_timeout_secs", "expected at least 3 (heartbeats come every third of it)");
        }
        if self.queue.max_receives == 0 {
            return invalid("queue.max_receives", "must be at least 1");
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return invalid("log.format", "expected \"text\" or \"json\"");
        }
        self.validate_backends()
    }

    /// Only the embedded backends are built so far; refuse the others by name
    /// rather than fall back silently.
    fn validate_backends(&self) -> Result<(), ConfigError> {
        let choices: [(&'static str, &str, &str); 3] = [
            ("storage.backend", &self.storage.backend, "fs"),
            ("queue.backend", &self.queue.backend, "embedded"),
            ("notify.backend", &self.notify.backend, "log"),
        ];
        for (key, value, supported) in choices {
            if value != supported {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("\"{value}\" is not available in this build (supported: \"{supported}\")"),
                });
            }
        }
        if !self.database.url.is_empty() && !self.database.url.starts_with("sqlite:") {
            return Err(ConfigError::Invalid {
                key: "database.url",
                reason: "only \"\" (SQLite in data_dir) or sqlite: URLs are available in this build".into(),
            });
        }
        Ok(())
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.bind.parse().expect("validated at load")
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.bind.parse().ok()
    }
}

#[cfg(test)]
mod tests {
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
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_from(&dir.path().join("missing.toml"), None, env(&[])).unwrap();
        assert_eq!(s.processing.sizes, vec![128, 256, 1024]);
        assert_eq!(s.processing.quality, 82);
        assert_eq!(s.http.bind, "127.0.0.1:8080");
        assert_eq!(s.queue.backend, "embedded");
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let default =
            write(dir.path(), "default.toml", "[processing]\nquality = 70\nsizes = [64]\n[http]\nworkers = 3\n");
        let file = write(dir.path(), "site.toml", "[processing]\nquality = 75\n");
        let s = Settings::load_from(
            &default,
            Some(&file),
            env(&[("IMAGED__HTTP__BIND", "0.0.0.0:9000"), ("IMAGED__PROCESSING__SIZES", "100,200"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(s.http.workers, 3, "default file applies");
        assert_eq!(s.processing.quality, 75, "--config file beats default file");
        assert_eq!(s.processing.sizes, vec![100, 200], "environment beats both");
        assert_eq!(s.http.bind, "0.0.0.0:9000");
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = Settings::load_from(&missing, None, env(&[("IMAGED__PROCESSING__QUALITY", "300")])).unwrap_err();
        assert!(err.to_string().contains("processing.quality"), "{err}");
        let err = Settings::load_from(&missing, None, env(&[("IMAGED__HTTP__BIND", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("http.bind"), "{err}");
        let typo = write(dir.path(), "typo.toml", "[processing]\nqualty = 80\n");
        let err = Settings::load_from(&missing, Some(&typo), env(&[])).unwrap_err();
        assert!(err.to_string().contains("qualty"), "{err}");
        for (var, value, key) in [
            ("IMAGED__QUEUE__BACKEND", "kafka", "queue.backend"),
            ("IMAGED__QUEUE__MAX_RECEIVES", "0", "queue.max_receives"),
            ("IMAGED__PROCESSING__MAX_UPLOAD_BYTES", "0", "processing.max_upload_bytes"),
        ] {
            let err = Settings::load_from(&missing, None, env(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        assert!(Settings::load_from(&missing, Some(&dir.path().join("nope.toml")), env(&[])).is_err());
    }
}

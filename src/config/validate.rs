//! Validation at load: every bad value is refused with the key it came from.

use std::path::Path;

use crate::imaging::Format;

use super::{ConfigError, NotifyBackend, QueueBackend, Settings, StorageBackend};

impl Settings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| Err(ConfigError::Invalid { key, reason: reason.into() });
        if self.http.body_idle_secs == 0 || self.http.body_deadline_secs < self.http.body_idle_secs {
            return invalid("http.body_idle_secs", "expected at least 1, and at most http.body_deadline_secs");
        }
        if self.http.upload_url_expiry_secs == 0 || self.http.upload_url_expiry_secs > 604_800 {
            return invalid("http.upload_url_expiry_secs", "expected 1..=604800 (a week, the most S3 allows)");
        }
        let p = &self.processing;
        if p.sizes.is_empty() || p.sizes.iter().any(|&s| s == 0 || s > 8192) {
            return invalid("processing.sizes", "expected one or more sizes in 1..=8192");
        }
        let mut unique = p.formats.clone();
        unique.sort_unstable();
        unique.dedup();
        if !p.formats.contains(&Format::Jpeg) || unique.len() != p.formats.len() {
            return invalid(
                "processing.formats",
                "expected jpeg and any of webp, each once (JPEG is what every client reads)",
            );
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
        if self.http.upload_bytes_in_flight < p.max_upload_bytes {
            return invalid("http.upload_bytes_in_flight", "must be at least processing.max_upload_bytes");
        }
        if p.stall_secs == 0 {
            return invalid("processing.stall_secs", "must be at least 1");
        }
        self.validate_queue()?;
        if self.reconcile.stuck_after_secs <= self.queue.visibility_timeout_secs {
            return invalid("reconcile.stuck_after_secs", "must be more than queue.visibility_timeout_secs");
        }
        self.validate_backends()
    }

    /// The limits SQS sets apply to the embedded queue too, so a setting
    /// that works on one works on the other.
    fn validate_queue(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| Err(ConfigError::Invalid { key, reason: reason.into() });
        let q = &self.queue;
        if q.batch_size == 0 || q.batch_size > 10 {
            return invalid("queue.batch_size", "expected 1..=10 (the SQS maximum)");
        }
        if q.wait_secs > 20 {
            return invalid("queue.wait_secs", "expected 0..=20 (the SQS maximum long poll)");
        }
        if q.visibility_timeout_secs < 3 || q.visibility_timeout_secs > 43_200 {
            return invalid(
                "queue.visibility_timeout_secs",
                "expected 3..=43200 (heartbeats come every third of it; 12 h is the SQS maximum)",
            );
        }
        if q.max_receives == 0 {
            return invalid("queue.max_receives", "must be at least 1");
        }
        Ok(())
    }

    /// Each production backend needs the name of what it talks to.
    fn validate_backends(&self) -> Result<(), ConfigError> {
        let missing = |key, what: &str| Err(ConfigError::Invalid { key, reason: format!("required by {what}") });
        if self.storage.backend == StorageBackend::S3 && self.storage.bucket.is_empty() {
            return missing("storage.bucket", "storage.backend = \"s3\"");
        }
        if self.queue.backend == QueueBackend::Sqs && self.queue.url.is_empty() {
            return missing("queue.url", "queue.backend = \"sqs\"");
        }
        // The default is the log backend's made-up topic, in region "local".
        let arn: Vec<&str> = self.notify.topic_arn.split(':').collect();
        let real_topic = arn.len() >= 6 && arn[0] == "arn" && arn[2] == "sns" && arn[3] != "local";
        if self.notify.backend == NotifyBackend::Sns && !real_topic {
            return missing("notify.topic_arn", "notify.backend = \"sns\"");
        }
        let db = &self.database;
        // A password, a secret and a CA file mean something only to MySQL; with
        // SQLite (say, IMAGED__DATABASE__URL="" on a CloudX host) they are unused.
        if !db.ca_file.is_empty() && !Path::new(&db.ca_file).is_file() {
            return Err(ConfigError::Invalid {
                key: "database.ca_file",
                reason: format!("{} is not a file", db.ca_file),
            });
        }
        if db.max_connections == 0 {
            return Err(ConfigError::Invalid { key: "database.max_connections", reason: "must be at least 1".into() });
        }
        Ok(())
    }
}

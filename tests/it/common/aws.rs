//! The production backend set for tests: moto (S3, SQS, SNS, Secrets
//! Manager) and a private MariaDB, both started by `scripts/services`
//! (which `scripts/test` runs). Each test gets a bucket, a queue with a
//! dead-letter queue, a topic and a database of its own, so tests run in
//! parallel without seeing each other's data.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use imaged::config::{AwsSettings, NotifyBackend, QueueBackend, Settings, StorageBackend};
use sqlx::{Connection, MySqlConnection};

/// Receives before SQS moves a message to the dead-letter queue: the same
/// as the embedded queue's default, so the suite means the same on both.
pub const MAX_RECEIVE_COUNT: u32 = 5;

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test, which starts moto and MariaDB"))
}

/// Where moto and MariaDB answer.
#[derive(Debug, Clone)]
pub struct Services {
    pub moto_url: String,
    /// The admin URL (no database).
    pub mysql_url: String,
}

impl Services {
    /// The set `scripts/services` started for the whole suite.
    pub fn shared() -> Self {
        Self { moto_url: var("IMAGED_TEST_MOTO_URL"), mysql_url: var("IMAGED_TEST_MYSQL_URL") }
    }

    pub fn aws_settings(&self) -> AwsSettings {
        AwsSettings { region: "us-east-1".into(), endpoint_url: self.moto_url.clone(), metadata_url: String::new() }
    }
}

/// A set of its own, for a test that stops them: `scripts/services start`
/// in a directory of its own, stopped when dropped.
pub struct PrivateServices {
    pub dir: std::path::PathBuf,
    pub services: Services,
}

impl PrivateServices {
    pub fn start(dir: &std::path::Path) -> Self {
        let out = services_script(&["start", &dir.to_string_lossy()]);
        let env = std::fs::read_to_string(out.trim()).expect("scripts/services writes an env file");
        let value = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} missing from {out}"))
                .to_owned()
        };
        let services = Services { moto_url: value("IMAGED_TEST_MOTO_URL"), mysql_url: value("IMAGED_TEST_MYSQL_URL") };
        Self { dir: dir.to_owned(), services }
    }

    pub fn stop_mariadb(&self) {
        services_script(&["stop-mariadb", &self.dir.to_string_lossy()]);
    }

    pub fn start_mariadb(&self) {
        services_script(&["start-mariadb", &self.dir.to_string_lossy()]);
    }
}

impl Drop for PrivateServices {
    fn drop(&mut self) {
        let _ = std::process::Command::new(SERVICES).args(["stop", &self.dir.to_string_lossy()]).status();
    }
}

const SERVICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/services");

fn services_script(args: &[&str]) -> String {
    let out = std::process::Command::new(SERVICES).args(args).output().expect("run scripts/services");
    assert!(out.status.success(), "scripts/services {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn aws_settings() -> AwsSettings {
    Services::shared().aws_settings()
}

pub async fn sdk() -> SdkConfig {
    imaged::aws::sdk_config(&aws_settings()).await
}

/// A short unique name for this test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// One test's bucket, queue (with its DLQ), topic and database.
pub struct Fixture {
    pub services: Services,
    pub sdk: SdkConfig,
    pub bucket: String,
    pub queue_url: String,
    pub dead_letter_url: String,
    pub topic_arn: String,
    pub database_url: String,
    /// imaged's schema beside that database.
    pub schema: String,
}

impl Fixture {
    pub async fn create() -> Self {
        Self::with_max_receives(MAX_RECEIVE_COUNT).await
    }

    pub async fn with_max_receives(max_receive_count: u32) -> Self {
        Self::on(Services::shared(), max_receive_count).await
    }

    pub async fn on(services: Services, max_receive_count: u32) -> Self {
        let sdk = imaged::aws::sdk_config(&services.aws_settings()).await;
        let name = unique("imaged");
        let s3 = imaged::aws::s3_client(&sdk, &services.aws_settings());
        s3.create_bucket().bucket(&name).send().await.expect("create bucket");
        let (queue_url, dead_letter_url) = create_queue(&sdk, &name, max_receive_count).await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic = sns.create_topic().name(&name).send().await.expect("create topic");
        Self {
            bucket: name.clone(),
            queue_url,
            dead_letter_url,
            topic_arn: topic.topic_arn().unwrap().to_owned(),
            database_url: create_database_on(&services.mysql_url, &name).await,
            schema: schema_of(&name),
            sdk,
            services,
        }
    }

    /// Points `settings` at this fixture's resources.
    pub fn apply(&self, s: &mut Settings) {
        s.aws = self.services.aws_settings();
        s.storage.backend = StorageBackend::S3;
        s.storage.bucket = self.bucket.clone();
        s.queue.backend = QueueBackend::Sqs;
        s.queue.url = self.queue_url.clone();
        s.notify.backend = NotifyBackend::Sns;
        s.notify.topic_arn = self.topic_arn.clone();
        s.database.url = self.database_url.parse().unwrap();
        s.database.schema = self.schema.clone();
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        imaged::aws::s3_client(&self.sdk, &self.services.aws_settings())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub async fn queue_arn(&self, url: &str) -> String {
        let attrs = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        attrs.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
    }

    /// An SQS queue subscribed to the topic, standing in for an e-mail
    /// inbox: every notice lands there as it was published.
    pub async fn inbox(&self) -> String {
        let inbox = self.sqs().create_queue().queue_name(unique("inbox")).send().await.unwrap();
        let url = inbox.queue_url().unwrap().to_owned();
        aws_sdk_sns::Client::new(&self.sdk)
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("sqs")
            .endpoint(self.queue_arn(&url).await)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        url
    }

    /// Takes every message off a queue.
    pub async fn drain(&self, queue_url: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let out = self.sqs().receive_message().queue_url(queue_url).max_number_of_messages(10).send().await;
            let messages = out.expect("receive").messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.extend(message.body().map(str::to_owned));
                let receipt = message.receipt_handle().unwrap_or_default();
                self.sqs().delete_message().queue_url(queue_url).receipt_handle(receipt).send().await.unwrap();
            }
        }
    }

    /// Messages now visible on a queue (without hiding them for long).
    pub async fn peek(&self, queue_url: &str) -> Vec<String> {
        let out = self
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages().iter().filter_map(|m| m.body().map(str::to_owned)).collect()
    }
}

/// A queue and its dead-letter queue, joined by a redrive policy.
pub async fn create_queue(sdk: &SdkConfig, name: &str, max_receive_count: u32) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.expect("create DLQ");
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("DLQ attributes");
    let dlq_arn = attrs.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    let policy = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count });
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .expect("create queue");
    (queue.queue_url().unwrap().to_owned(), dlq_url)
}

/// imaged's schema for the database at `url` (or named so): one of its
/// own, as tests run side by side on one server.
pub fn schema_of(url: &str) -> String {
    format!("{}_imaged", url.rsplit('/').next().unwrap().replace('-', "_"))
}

/// A fresh, empty database on the shared MariaDB; returns its URL for the admin user.
pub async fn create_database(name: &str) -> String {
    create_database_on(&Services::shared().mysql_url, name).await
}

async fn create_database_on(admin: &str, name: &str) -> String {
    let db = name.replace('-', "_");
    let mut conn = MySqlConnection::connect(admin).await.expect("connect to the test MariaDB");
    let sql = sqlx::AssertSqlSafe(format!("CREATE DATABASE `{db}`"));
    sqlx::query(sql).execute(&mut conn).await.expect("create database");
    format!("{admin}/{db}")
}

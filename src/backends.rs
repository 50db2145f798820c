//! The four seams, each chosen once from settings: the rest of imaged sees
//! only the traits.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use aws_config::SdkConfig;
use secrecy::{ExposeSecret, SecretString};
use sqlx::MySqlPool;

use crate::{
    aws,
    config::{DatabaseUrl, NotifyBackend, QueueBackend, Settings, StorageBackend},
    db::{MetaRepo, Migrated, MysqlRepo, SqliteRepo, connect_mysql, migrate_local, open_local},
    notify::{LogNotifier, Notifier, SnsNotifier},
    queue::{DeadLetters, EmbeddedQueue, JobQueue, SqsQueue},
    storage::{BlobStore, FsStore, S3Store},
};

#[derive(Clone)]
pub struct Backends {
    pub meta: Arc<dyn MetaRepo>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The same queue, as an operator reads its dead letters.
    pub dead_letters: Arc<dyn DeadLetters>,
    pub notifier: Arc<dyn Notifier>,
}

impl Backends {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let sdk_config = sdk_config(settings).await;
        let sdk = || sdk_config.as_ref().expect("an AWS backend is configured, so the SDK config was loaded");
        // The embedded backends share one local SQLite file.
        let local = match settings.needs_local_db() {
            true => Some(open_local(settings).await?),
            false => None,
        };
        let local = || local.clone().expect("an embedded backend is configured, so the local database is open");

        let meta: Arc<dyn MetaRepo> = match settings.database.url {
            DatabaseUrl::Mysql(_) => Arc::new(MysqlRepo::new(mysql_pool(settings, sdk_config.as_ref()).await?.0)),
            _ => Arc::new(SqliteRepo::new(local())),
        };
        let blobs: Arc<dyn BlobStore> = match settings.storage.backend {
            StorageBackend::Fs => Arc::new(FsStore::open(settings.blobs_dir()).await?),
            StorageBackend::S3 => {
                Arc::new(S3Store::new(aws::s3_client(sdk(), &settings.aws), &settings.storage.bucket))
            }
        };
        let q = &settings.queue;
        let visibility = Duration::from_secs(q.visibility_timeout_secs);
        let (queue, dead_letters): (Arc<dyn JobQueue>, Arc<dyn DeadLetters>) = match q.backend {
            QueueBackend::Embedded => {
                let queue = Arc::new(EmbeddedQueue::new(local(), visibility, q.max_receives));
                (queue.clone(), queue)
            }
            QueueBackend::Sqs => {
                let client = aws_sdk_sqs::Client::new(sdk());
                let queue = Arc::new(SqsQueue::connect(client, &q.url, visibility, q.max_receives).await?);
                (queue.clone(), queue)
            }
        };
        let n = &settings.notify;
        let notifier: Arc<dyn Notifier> = match n.backend {
            NotifyBackend::Log => Arc::new(LogNotifier::new(local(), &n.topic_arn, n.auto_confirm)),
            NotifyBackend::Sns => Arc::new(SnsNotifier::new(aws_sdk_sns::Client::new(sdk()), &n.topic_arn)),
        };
        Ok(Self { meta, blobs, queue, dead_letters, notifier })
    }

    /// Only the database: what `imaged migrate` needs.
    pub async fn migrate(settings: &Settings) -> anyhow::Result<Migrated> {
        Ok(match settings.database.url {
            DatabaseUrl::Mysql(_) => mysql_pool(settings, sdk_config(settings).await.as_ref()).await?.1,
            _ => migrate_local(settings).await?.1,
        })
    }
}

/// The SDK configuration, loaded only when some backend talks to AWS.
pub(crate) async fn sdk_config(settings: &Settings) -> Option<SdkConfig> {
    match settings.uses_aws() {
        true => Some(aws::sdk_config(&settings.aws).await),
        false => None,
    }
}

/// The MySQL pool, its password found, its tables migrated.
async fn mysql_pool(settings: &Settings, sdk: Option<&SdkConfig>) -> anyhow::Result<(MySqlPool, Migrated)> {
    let password = database_password(settings, sdk).await?;
    connect_mysql(&settings.database, password.as_ref()).await.context("connecting to MySQL")
}

/// `database.password`, else the Secrets Manager secret, else none (the
/// URL may carry one).
async fn database_password(settings: &Settings, sdk: Option<&SdkConfig>) -> anyhow::Result<Option<SecretString>> {
    let db = &settings.database;
    if !db.password.expose_secret().is_empty() {
        if !db.password_secret.is_empty() {
            tracing::warn!("database.password is set, so database.password_secret is not read");
        }
        return Ok(Some(db.password.clone()));
    }
    if db.password_secret.is_empty() {
        return Ok(None);
    }
    let sdk = sdk.context("database.password_secret needs the AWS SDK configuration")?;
    Ok(Some(aws::secret_field(sdk, &db.password_secret, "password").await?))
}

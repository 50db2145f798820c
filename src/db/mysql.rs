//! MySQL/MariaDB backend of `MetaRepo`, made to run on an existing CloudX
//! database: `images` keeps CloudX's definition and rows, imaged's state
//! lives in `imaged_*` tables. Many hosts write at once, so races are
//! settled by InnoDB: a unique key hash gives each object one row, and the
//! image row's lock, taken first by every write of an image's state, orders
//! a delete against a running job.

use std::{future::Future, str::FromStr, time::Duration};

use async_trait::async_trait;
use chrono::{NaiveDateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Executor, FromRow, MySql, MySqlPool, Row, Transaction,
    mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode},
};

use super::{
    Completion, DbError, ImageRow, ImageStats, JobState, JobStatus, Made, MadeState, MetaRepo, NewImage, StuckJob,
    VariantRow, millis, sha256,
};
use crate::{config::DatabaseSettings, storage::BlobMeta};

/// `id` is `BIGINT UNSIGNED` (CloudX's `SERIAL`) and `last_modified` a
/// `TIMESTAMP`: read them as the signed id and naive UTC time the other
/// backend gives (the session's time zone is UTC).
const IMAGE_COLUMNS: &str = "CAST(i.id AS SIGNED) AS id, i.object_key, i.object_type, \
    CAST(i.last_modified AS DATETIME) AS last_modified, i.object_size";
const VARIANT_COLUMNS: &str = "size, width, height, object_key, object_size";

/// Connects (TLS verified against `ca_file` when one is set) and brings
/// imaged's own tables up to date.
pub async fn connect(settings: &DatabaseSettings, password: Option<&SecretString>) -> anyhow::Result<MySqlPool> {
    let url = settings.url.replacen("mariadb://", "mysql://", 1);
    let mut options = MySqlConnectOptions::from_str(&url)?;
    if let Some(password) = password {
        options = options.password(password.expose_secret());
    }
    if !settings.ca_file.is_empty() {
        options = options.ssl_mode(MySqlSslMode::VerifyIdentity).ssl_ca(&settings.ca_file);
    }
    // READ COMMITTED: no gap locks, so writers of different rows do not
    // deadlock over the empty index ranges between them.
    let pool = MySqlPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Creates `images` if it is missing (CloudX's definition) and imaged's
/// tables; never touches a row.
async fn migrate(pool: &MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations/mysql");
    migrator.dangerous_set_table_name("imaged_migrations");
    migrator.run(pool).await
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// InnoDB may still pick a transaction as a deadlock victim (1213) or time
/// out its lock wait (1205); both ask the client to run it again.
fn is_lock_conflict(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| matches!(e.number(), 1213 | 1205)))
}

/// Runs a write transaction, again (a few times, briefly apart) when
/// InnoDB asks for that.
async fn retrying<T, F, Fut>(mut transaction: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match transaction().await {
            Err(err) if attempt < 4 && is_lock_conflict(&err) => {
                attempt += 1;
                tracing::debug!(error = %err, attempt, "lock conflict; running the transaction again");
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            other => return other,
        }
    }
}

enum Claim {
    Inserted(i64),
    /// Another writer's row holds the key.
    Taken,
}

pub struct MysqlRepo {
    pool: MySqlPool,
}

impl MysqlRepo {
    pub fn new(pool: MySqlPool) -> Self {
        Self { pool }
    }

    /// Locks the image row (shared, or exclusive to delete it), always
    /// first: every write of an image's state takes this lock before any
    /// other, so a delete and a job take turns and never deadlock. Returns
    /// whether the row exists.
    async fn lock_image(tx: &mut Transaction<'_, MySql>, id: i64, exclusive: bool) -> Result<bool, sqlx::Error> {
        let mode = if exclusive { "FOR UPDATE" } else { "LOCK IN SHARE MODE" };
        let sql = sqlx::AssertSqlSafe(format!("SELECT id FROM images WHERE id = ? {mode}"));
        Ok(sqlx::query(sql).bind(id).fetch_optional(&mut **tx).await?.is_some())
    }

    async fn try_insert(&self, image: &NewImage, content_type: Option<&str>) -> Result<Claim, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id =
            sqlx::query("INSERT INTO images (object_key, object_type, last_modified, object_size) VALUES (?, ?, ?, ?)")
                .bind(&image.object_key)
                .bind(&image.object_type)
                .bind(image.last_modified)
                .bind(image.object_size)
                .execute(&mut *tx)
                .await?
                .last_insert_id() as i64;
        let claim = sqlx::query("INSERT INTO imaged_objects (key_hash, image_id) VALUES (?, ?)")
            .bind(sha256(&image.object_key))
            .bind(id)
            .execute(&mut *tx)
            .await;
        match claim {
            Err(err) if is_unique_violation(&err) => {
                tx.rollback().await?;
                return Ok(Claim::Taken);
            }
            other => other?,
        };
        sqlx::query("INSERT INTO imaged_jobs (image_id, status, content_type, updated_at) VALUES (?, 'pending', ?, ?)")
            .bind(id)
            .bind(content_type)
            .bind(Utc::now().naive_utc())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM imaged_blob_journal WHERE key_hash = ?")
            .bind(sha256(&image.object_key))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Claim::Inserted(id))
    }

    async fn delete_tx(&self, id: i64) -> Result<Option<Vec<VariantRow>>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        Self::lock_image(&mut tx, id, true).await?;
        let variants = Self::variants_in(&mut tx, id).await?;
        let deleted = sqlx::query("DELETE FROM images WHERE id = ?").bind(id).execute(&mut *tx).await?;
        for table in ["imaged_variants", "imaged_jobs", "imaged_objects", "imaged_deletes"] {
            let sql = sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE image_id = ?"));
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok((deleted.rows_affected() > 0).then_some(variants))
    }

    async fn set_job_tx(&self, image_id: i64, state: &JobState) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !Self::lock_image(&mut tx, image_id, false).await? {
            return Ok(());
        }
        let job: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, source_tag FROM imaged_jobs WHERE image_id = ? FOR UPDATE")
                .bind(image_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((status, made_from)) = job
            && status == "done"
            && (state.source_tag.is_none() || made_from == state.source_tag)
        {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO imaged_jobs (image_id, status, error, content_type, updated_at) VALUES (?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE status = VALUES(status), error = VALUES(error),
               content_type = COALESCE(VALUES(content_type), content_type), updated_at = VALUES(updated_at)",
        )
        .bind(image_id)
        .bind(state.status.as_str())
        .bind(&state.error)
        .bind(&state.content_type)
        .bind(Utc::now().naive_utc())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    async fn complete_tx(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !Self::lock_image(&mut tx, image_id, false).await? {
            return Ok(Completion::Gone);
        }
        // Two jobs completing the same image take turns on its job row.
        let job = sqlx::query("SELECT 1 FROM imaged_jobs WHERE image_id = ? FOR UPDATE")
            .bind(image_id)
            .fetch_optional(&mut *tx)
            .await?;
        let state = match job {
            Some(_) => Self::made_state(&mut tx, image_id).await?,
            None => None,
        };
        let Some(state) = state else { return Ok(Completion::Gone) };
        let sizes: Vec<i64> = made.variants.iter().map(|v| v.size).collect();
        if state.covers(made.source, &sizes) {
            return Ok(Completion::AlreadyDone);
        }
        sqlx::query("DELETE FROM imaged_variants WHERE image_id = ?").bind(image_id).execute(&mut *tx).await?;
        for v in made.variants {
            sqlx::query(
                "INSERT INTO imaged_variants (image_id, size, width, height, object_key, object_size) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(image_id)
            .bind(v.size)
            .bind(v.width)
            .bind(v.height)
            .bind(&v.object_key)
            .bind(v.object_size)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE imaged_jobs SET status = 'done', error = NULL, updated_at = ?, duration_ms = ?, source_tag = ?
             WHERE image_id = ?",
        )
        .bind(Utc::now().naive_utc())
        .bind(millis(made.took))
        .bind(&made.source.tag)
        .bind(image_id)
        .execute(&mut *tx)
        .await?;
        let source = made.source;
        if source.size as i64 != state.object_size || source.last_modified != state.last_modified {
            sqlx::query("UPDATE images SET object_size = ?, last_modified = ?, object_type = ? WHERE id = ?")
                .bind(source.size as i64)
                .bind(source.last_modified)
                .bind(&source.content_type)
                .bind(image_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Completion::Done)
    }

    /// What the image's job last made; `None` without the image or its job.
    async fn made_state(tx: &mut Transaction<'_, MySql>, image_id: i64) -> Result<Option<MadeState>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT j.status, j.source_tag, i.object_size, CAST(i.last_modified AS DATETIME) AS last_modified
             FROM images i JOIN imaged_jobs j ON j.image_id = i.id WHERE i.id = ?",
        )
        .bind(image_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sizes = sqlx::query_scalar("SELECT size FROM imaged_variants WHERE image_id = ?")
            .bind(image_id)
            .fetch_all(&mut **tx)
            .await?;
        Ok(Some(MadeState {
            done: row.try_get::<&str, _>("status")? == "done",
            sizes,
            source_tag: row.try_get("source_tag")?,
            object_size: row.try_get("object_size")?,
            last_modified: row.try_get("last_modified")?,
        }))
    }

    async fn variants_in(tx: &mut Transaction<'_, MySql>, image_id: i64) -> Result<Vec<VariantRow>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {VARIANT_COLUMNS} FROM imaged_variants WHERE image_id = ? ORDER BY size"
        ));
        sqlx::query_as(sql).bind(image_id).fetch_all(&mut **tx).await
    }
}

#[async_trait]
impl MetaRepo for MysqlRepo {
    /// The row, its key claim and its pending job in one transaction. When
    /// another writer claimed the key first, its row is the answer.
    async fn insert_image(&self, image: &NewImage, content_type: Option<&str>) -> Result<i64, DbError> {
        for _ in 0..2 {
            if let Claim::Inserted(id) = retrying(|| self.try_insert(image, content_type)).await? {
                return Ok(id);
            }
            if let Some(existing) = self.image_by_key(&image.object_key).await? {
                return Ok(existing.id);
            }
            // The claim's row was deleted by someone who does not know of
            // claims (the CloudX app): drop it and try once more.
            sqlx::query(
                "DELETE o FROM imaged_objects o LEFT JOIN images i ON i.id = o.image_id
                 WHERE o.key_hash = ? AND i.id IS NULL",
            )
            .bind(sha256(&image.object_key))
            .execute(&self.pool)
            .await?;
        }
        Err(DbError(sqlx::Error::Protocol(format!("object key {} could not be claimed", image.object_key))))
    }

    async fn image(&self, id: i64) -> Result<Option<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE i.id = ?"));
        Ok(sqlx::query_as(sql).bind(id).fetch_optional(&self.pool).await?)
    }

    /// Through the key claim; rows CloudX wrote have none, and are found by
    /// their key (a scan: CloudX's table has no index on it), compared byte
    /// for byte, not by the table's case-blind collation.
    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM imaged_objects o JOIN images i ON i.id = o.image_id WHERE o.key_hash = ?"
        ));
        if let Some(row) = sqlx::query_as(sql).bind(sha256(key)).fetch_optional(&self.pool).await? {
            return Ok(Some(row));
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images i WHERE BINARY i.object_key = ? ORDER BY i.id DESC LIMIT 1"
        ));
        Ok(sqlx::query_as(sql).bind(key).fetch_optional(&self.pool).await?)
    }

    async fn images(&self) -> Result<Vec<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images i ORDER BY i.id"));
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError> {
        Ok(retrying(|| self.delete_tx(id)).await?)
    }

    async fn job(&self, image_id: i64) -> Result<Option<JobState>, DbError> {
        let row = sqlx::query("SELECT status, error, content_type, source_tag FROM imaged_jobs WHERE image_id = ?")
            .bind(image_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| JobState {
            status: JobStatus::parse(r.get("status")),
            error: r.get("error"),
            content_type: r.get("content_type"),
            source_tag: r.get("source_tag"),
        }))
    }

    /// Only while the image exists: a job never re-creates the state of an
    /// image deleted under it.
    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError> {
        Ok(retrying(|| self.set_job_tx(image_id, state)).await?)
    }

    async fn is_made(&self, image_id: i64, source: &BlobMeta, sizes: &[i64]) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let made = Self::made_state(&mut tx, image_id).await?;
        tx.rollback().await?;
        Ok(made.is_some_and(|made| made.covers(source, sizes)))
    }

    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError> {
        Ok(retrying(|| self.complete_tx(image_id, made)).await?)
    }

    async fn variants(&self, image_id: i64) -> Result<Vec<VariantRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {VARIANT_COLUMNS} FROM imaged_variants WHERE image_id = ? ORDER BY size"
        ));
        Ok(sqlx::query_as(sql).bind(image_id).fetch_all(&self.pool).await?)
    }

    async fn job_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as("SELECT status, COUNT(*) FROM imaged_jobs GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Sums are DECIMAL in MySQL: cast back to integers.
    async fn image_stats(&self) -> Result<ImageStats, DbError> {
        let (count, total_bytes, min_bytes, max_bytes): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(object_size), 0) AS SIGNED), MIN(object_size), MAX(object_size) FROM images",
        )
        .fetch_one(&self.pool)
        .await?;
        let thumbnail_bytes =
            sqlx::query_scalar("SELECT CAST(COALESCE(SUM(object_size), 0) AS SIGNED) FROM imaged_variants")
                .fetch_one(&self.pool)
                .await?;
        let by_type = sqlx::query_as(
            "SELECT CONVERT(COALESCE(j.content_type, i.object_type) USING utf8mb4) AS kind, COUNT(*) FROM images i
             LEFT JOIN imaged_jobs j ON j.image_id = i.id GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ImageStats { count, total_bytes, min_bytes, max_bytes, thumbnail_bytes, by_type })
    }

    async fn job_durations(&self, since: NaiveDateTime, limit: u32) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT duration_ms FROM imaged_jobs WHERE status = 'done' AND updated_at >= ? AND duration_ms IS NOT NULL
             ORDER BY updated_at DESC LIMIT ?",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim_notice(&self, image_id: i64) -> Result<bool, DbError> {
        let claimed = sqlx::query(
            "UPDATE imaged_jobs SET notified = TRUE WHERE image_id = ? AND status = 'done' AND NOT notified",
        )
        .bind(image_id)
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn release_notice(&self, image_id: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE imaged_jobs SET notified = FALSE WHERE image_id = ?")
            .bind(image_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_sent_notice(&self, text: &str) -> Result<bool, DbError> {
        let claimed = sqlx::query("INSERT IGNORE INTO imaged_sent_notices (digest, sent_at) VALUES (?, ?)")
            .bind(sha256(text))
            .bind(Utc::now().naive_utc())
            .execute(&self.pool)
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn release_sent_notice(&self, text: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM imaged_sent_notices WHERE digest = ?").bind(sha256(text)).execute(&self.pool).await?;
        Ok(())
    }

    async fn prune_sent_notices(&self, before: NaiveDateTime) -> Result<u64, DbError> {
        let pruned =
            sqlx::query("DELETE FROM imaged_sent_notices WHERE sent_at < ?").bind(before).execute(&self.pool).await?;
        Ok(pruned.rows_affected())
    }

    async fn journal(&self, key: &str) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO imaged_blob_journal (key_hash, object_key, since) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE since = VALUES(since)",
        )
        .bind(sha256(key))
        .bind(key)
        .bind(Utc::now().naive_utc())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unjournal(&self, key: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM imaged_blob_journal WHERE key_hash = ?").bind(sha256(key)).execute(&self.pool).await?;
        Ok(())
    }

    async fn journaled(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT object_key FROM imaged_blob_journal WHERE since < ? ORDER BY since LIMIT ?")
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn stuck_jobs(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<StuckJob>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS}, j.status, j.updated_at, j.requeues FROM imaged_jobs j JOIN images i ON i.id = j.image_id
             WHERE j.status IN ('pending', 'processing') AND j.updated_at < ? ORDER BY j.updated_at LIMIT ?"
        ));
        let rows = sqlx::query(sql).bind(before).bind(limit).fetch_all(&self.pool).await?;
        let stuck = |row: &sqlx::mysql::MySqlRow| -> Result<StuckJob, sqlx::Error> {
            Ok(StuckJob {
                image: ImageRow::from_row(row)?,
                status: JobStatus::parse(row.try_get("status")?),
                updated_at: row.try_get("updated_at")?,
                requeues: row.try_get("requeues")?,
            })
        };
        rows.iter().map(stuck).collect::<Result<_, _>>().map_err(DbError)
    }

    async fn requeue_job(&self, image_id: i64, seen: NaiveDateTime) -> Result<bool, DbError> {
        let taken = sqlx::query(
            "UPDATE imaged_jobs SET updated_at = ?, requeues = requeues + (status = 'processing')
             WHERE image_id = ? AND updated_at = ? AND status IN ('pending', 'processing')",
        )
        .bind(Utc::now().naive_utc())
        .bind(image_id)
        .bind(seen)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn mark_delete(&self, image_id: i64, stale_before: NaiveDateTime) -> Result<bool, DbError> {
        let now = Utc::now().naive_utc();
        let marked =
            sqlx::query("INSERT IGNORE INTO imaged_deletes (image_id, since) SELECT id, ? FROM images WHERE id = ?")
                .bind(now)
                .bind(image_id)
                .execute(&self.pool)
                .await?;
        if marked.rows_affected() == 1 {
            return Ok(true);
        }
        let taken = sqlx::query("UPDATE imaged_deletes SET since = ? WHERE image_id = ? AND since < ?")
            .bind(now)
            .bind(image_id)
            .bind(stale_before)
            .execute(&self.pool)
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn unmark_delete(&self, image_id: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM imaged_deletes WHERE image_id = ?").bind(image_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn leave_delete(&self, image_id: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE imaged_deletes SET since = ? WHERE image_id = ?")
            .bind(chrono::DateTime::UNIX_EPOCH.naive_utc())
            .bind(image_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stale_deletes(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM imaged_deletes d JOIN images i ON i.id = d.image_id WHERE d.since < ?
             ORDER BY d.since LIMIT ?"
        ));
        Ok(sqlx::query_as(sql).bind(before).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn check(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

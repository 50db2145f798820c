//! MySQL/MariaDB backend of `MetaRepo`, made to run on an existing CloudX
//! database: `images` keeps CloudX's definition and rows, imaged's state
//! lives in `imaged_*` tables of its own schema (`layout`), which sees
//! CloudX's table through a view. Many hosts write at once, so races are
//! settled by InnoDB: a unique key hash gives each object one row, and the
//! image row's lock, taken first by every write of an image's state, orders
//! a delete against a running job.

mod connect;
mod layout;

use std::{future::Future, time::Duration};

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{MySql, MySqlPool, Transaction};

use super::{
    Completion, DbError, ImageRow, ImageStats, JobState, Made, NewImage, VariantRow, sha256,
    shared::{Dialect, InsertNew, ReadLocked, SetSince, meta_repo},
};

pub use connect::connect;

/// `id` is `BIGINT UNSIGNED` (CloudX's `SERIAL`) and `last_modified` a
/// `TIMESTAMP`: read them as the signed id and naive UTC time the other
/// backend gives (the session's time zone is UTC).
const IMAGE_COLUMNS: &str = "CAST(i.id AS SIGNED) AS id, i.object_key, i.object_type, \
    CAST(i.last_modified AS DATETIME) AS last_modified, i.object_size";

const INSERT_NEW: InsertNew = InsertNew("INSERT IGNORE INTO", "");
const SET_SINCE: SetSince = SetSince("ON DUPLICATE KEY UPDATE since = VALUES(since)");
const READ_LOCKED: ReadLocked = ReadLocked("LOCK IN SHARE MODE");

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// MySQL's number for a server's error.
fn error_number(err: &sqlx::Error) -> Option<u16> {
    match err {
        sqlx::Error::Database(db) => db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|e| e.number()),
        _ => None,
    }
}

/// InnoDB may still pick a transaction as a deadlock victim (1213) or time
/// out its lock wait (1205); both ask the client to run it again.
fn is_lock_conflict(err: &sqlx::Error) -> bool {
    matches!(error_number(err), Some(1213 | 1205))
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

    fn inserted_id(done: &sqlx::mysql::MySqlQueryResult) -> i64 {
        done.last_insert_id() as i64
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
        let id = Self::insert_rows(&mut tx, image, content_type).await?;
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
        let variants = Self::delete_rows(&mut tx, id).await?;
        sqlx::query("DELETE FROM imaged_objects WHERE image_id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(variants)
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
        Self::record_event(&mut tx, image_id, state.status.as_str()).await?;
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
        if job.is_none() {
            return Ok(Completion::Gone);
        }
        let completion = Self::complete_in(&mut tx, image_id, made).await?;
        tx.commit().await?;
        Ok(completion)
    }
}

meta_repo!(MysqlRepo, sqlx::MySql);

#[async_trait]
impl Dialect for MysqlRepo {
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

    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError> {
        Ok(retrying(|| self.delete_tx(id)).await?)
    }

    /// Only while the image exists: a job never re-creates the state of an
    /// image deleted under it.
    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError> {
        Ok(retrying(|| self.set_job_tx(image_id, state)).await?)
    }

    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError> {
        Ok(retrying(|| self.complete_tx(image_id, made)).await?)
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
}

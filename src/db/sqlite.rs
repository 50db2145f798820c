//! SQLite backend of `MetaRepo`, and the one local database file that the
//! embedded queue and notifier share with it.

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use chrono::{NaiveDateTime, Utc};
use sqlx::{
    FromRow, Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    Completion, DbError, ImageRow, ImageStats, JobState, JobStatus, Made, MadeState, MetaRepo, NewImage, StuckJob,
    VariantRow, millis, sha256,
};
use crate::storage::BlobMeta;

/// Opens (creating if needed) and migrates the local SQLite database.
/// `url` is a `sqlite:` URL, or "" for `imaged.db` in `data_dir`.
pub async fn open_local(data_dir: &Path, url: &str) -> anyhow::Result<SqlitePool> {
    tokio::fs::create_dir_all(data_dir).await?;
    let options = if url.is_empty() {
        SqliteConnectOptions::new().filename(data_dir.join("imaged.db"))
    } else {
        SqliteConnectOptions::from_str(url)?
    };
    // WAL lets readers run beside the one writer; the busy timeout makes
    // writers from several tasks (or processes) queue instead of failing.
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

/// A transaction that takes the write lock at once. A deferred one that
/// reads first fails with "database is locked" (without waiting) when it
/// tries to write after another connection has: `BEGIN IMMEDIATE` waits
/// its turn under the busy timeout instead.
pub async fn write_tx(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

fn stuck_job(row: &sqlx::sqlite::SqliteRow) -> Result<StuckJob, sqlx::Error> {
    Ok(StuckJob {
        image: ImageRow::from_row(row)?,
        status: JobStatus::parse(row.try_get("status")?),
        updated_at: row.try_get("updated_at")?,
        requeues: row.try_get("requeues")?,
    })
}

/// What the image's job last made; `None` without the image or its job.
async fn made_state(conn: &mut sqlx::SqliteConnection, image_id: i64) -> Result<Option<MadeState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT j.status, j.source_tag, i.object_size, i.last_modified FROM images i
         JOIN jobs j ON j.image_id = i.id WHERE i.id = ?",
    )
    .bind(image_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let sizes =
        sqlx::query_scalar("SELECT size FROM variants WHERE image_id = ?").bind(image_id).fetch_all(conn).await?;
    Ok(Some(MadeState {
        done: row.try_get::<&str, _>("status")? == "done",
        sizes,
        source_tag: row.try_get("source_tag")?,
        object_size: row.try_get("object_size")?,
        last_modified: row.try_get("last_modified")?,
    }))
}

pub struct SqliteRepo {
    pool: SqlitePool,
}

impl SqliteRepo {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

const IMAGE_COLUMNS: &str = "id, object_key, object_type, last_modified, object_size";

#[async_trait]
impl MetaRepo for SqliteRepo {
    async fn insert_image(&self, image: &NewImage, content_type: Option<&str>) -> Result<i64, DbError> {
        // The write lock is taken first, so looking for the key and
        // inserting are one step for every writer of this file.
        let mut tx = write_tx(&self.pool).await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM images WHERE object_key = ? ORDER BY id DESC LIMIT 1")
                .bind(&image.object_key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let id =
            sqlx::query("INSERT INTO images (object_key, object_type, last_modified, object_size) VALUES (?, ?, ?, ?)")
                .bind(&image.object_key)
                .bind(&image.object_type)
                .bind(image.last_modified)
                .bind(image.object_size)
                .execute(&mut *tx)
                .await?
                .last_insert_rowid();
        sqlx::query("INSERT INTO jobs (image_id, status, content_type, updated_at) VALUES (?, 'pending', ?, ?)")
            .bind(id)
            .bind(content_type)
            .bind(Utc::now().naive_utc())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM blob_journal WHERE object_key = ?").bind(&image.object_key).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn image(&self, id: i64) -> Result<Option<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?"));
        Ok(sqlx::query_as(sql).bind(id).fetch_optional(&self.pool).await?)
    }

    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE object_key = ? ORDER BY id DESC LIMIT 1"
        ));
        Ok(sqlx::query_as(sql).bind(key).fetch_optional(&self.pool).await?)
    }

    async fn images(&self) -> Result<Vec<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images ORDER BY id"));
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError> {
        let mut tx = write_tx(&self.pool).await?;
        let variants = sqlx::query_as(
            "SELECT size, width, height, object_key, object_size FROM variants WHERE image_id = ? ORDER BY size",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM images WHERE id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM variants WHERE image_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM jobs WHERE image_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM deletes WHERE image_id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((deleted.rows_affected() > 0).then_some(variants))
    }

    async fn job(&self, image_id: i64) -> Result<Option<JobState>, DbError> {
        let row = sqlx::query("SELECT status, error, content_type, source_tag FROM jobs WHERE image_id = ?")
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

    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO jobs (image_id, status, error, content_type, updated_at)
             SELECT id, ?, ?, ?, ? FROM images WHERE id = ?
             ON CONFLICT (image_id) DO UPDATE SET status = excluded.status, error = excluded.error,
             content_type = COALESCE(excluded.content_type, jobs.content_type), updated_at = excluded.updated_at
             WHERE jobs.status <> 'done' OR (?6 IS NOT NULL AND jobs.source_tag IS NOT ?6)",
        )
        .bind(state.status.as_str())
        .bind(&state.error)
        .bind(&state.content_type)
        .bind(Utc::now().naive_utc())
        .bind(image_id)
        .bind(&state.source_tag)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_made(&self, image_id: i64, source: &BlobMeta, sizes: &[i64]) -> Result<bool, DbError> {
        let mut conn = self.pool.acquire().await?;
        Ok(made_state(&mut conn, image_id).await?.is_some_and(|made| made.covers(source, sizes)))
    }

    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError> {
        let mut tx = write_tx(&self.pool).await?;
        let Some(state) = made_state(&mut tx, image_id).await? else { return Ok(Completion::Gone) };
        let sizes: Vec<i64> = made.variants.iter().map(|v| v.size).collect();
        if state.covers(made.source, &sizes) {
            return Ok(Completion::AlreadyDone);
        }
        sqlx::query("DELETE FROM variants WHERE image_id = ?").bind(image_id).execute(&mut *tx).await?;
        for v in made.variants {
            sqlx::query(
                "INSERT INTO variants (image_id, size, width, height, object_key, object_size) VALUES (?, ?, ?, ?, ?, ?)",
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
            "UPDATE jobs SET status = 'done', error = NULL, updated_at = ?, duration_ms = ?, source_tag = ?
             WHERE image_id = ?",
        )
        .bind(Utc::now().naive_utc())
        .bind(millis(made.took))
        .bind(&made.source.tag)
        .bind(image_id)
        .execute(&mut *tx)
        .await?;
        let source = made.source;
        sqlx::query(
            "UPDATE images SET object_size = ?1, last_modified = ?2, object_type = ?3
             WHERE id = ?4 AND (object_size <> ?1 OR last_modified <> ?2)",
        )
        .bind(source.size as i64)
        .bind(source.last_modified)
        .bind(&source.content_type)
        .bind(image_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Completion::Done)
    }

    async fn variants(&self, image_id: i64) -> Result<Vec<VariantRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT size, width, height, object_key, object_size FROM variants WHERE image_id = ? ORDER BY size",
        )
        .bind(image_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn job_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn image_stats(&self) -> Result<ImageStats, DbError> {
        let (count, total_bytes, min_bytes, max_bytes): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(object_size), 0), MIN(object_size), MAX(object_size) FROM images",
        )
        .fetch_one(&self.pool)
        .await?;
        let thumbnail_bytes =
            sqlx::query_scalar("SELECT COALESCE(SUM(object_size), 0) FROM variants").fetch_one(&self.pool).await?;
        let by_type = sqlx::query_as(
            "SELECT COALESCE(j.content_type, i.object_type) AS kind, COUNT(*) FROM images i
             LEFT JOIN jobs j ON j.image_id = i.id GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ImageStats { count, total_bytes, min_bytes, max_bytes, thumbnail_bytes, by_type })
    }

    async fn job_durations(&self, since: NaiveDateTime, limit: u32) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT duration_ms FROM jobs WHERE status = 'done' AND updated_at >= ? AND duration_ms IS NOT NULL
             ORDER BY updated_at DESC LIMIT ?",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim_notice(&self, image_id: i64) -> Result<bool, DbError> {
        let claimed =
            sqlx::query("UPDATE jobs SET notified = TRUE WHERE image_id = ? AND status = 'done' AND NOT notified")
                .bind(image_id)
                .execute(&self.pool)
                .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn release_notice(&self, image_id: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE jobs SET notified = FALSE WHERE image_id = ?").bind(image_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn claim_sent_notice(&self, text: &str) -> Result<bool, DbError> {
        let claimed = sqlx::query("INSERT INTO sent_notices (digest, sent_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(sha256(text))
            .bind(Utc::now().naive_utc())
            .execute(&self.pool)
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn release_sent_notice(&self, text: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sent_notices WHERE digest = ?").bind(sha256(text)).execute(&self.pool).await?;
        Ok(())
    }

    async fn prune_sent_notices(&self, before: NaiveDateTime) -> Result<u64, DbError> {
        let pruned = sqlx::query("DELETE FROM sent_notices WHERE sent_at < ?").bind(before).execute(&self.pool).await?;
        Ok(pruned.rows_affected())
    }

    async fn journal(&self, key: &str) -> Result<(), DbError> {
        sqlx::query("INSERT INTO blob_journal (object_key, since) VALUES (?, ?) ON CONFLICT DO UPDATE SET since = excluded.since")
            .bind(key)
            .bind(Utc::now().naive_utc())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unjournal(&self, key: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM blob_journal WHERE object_key = ?").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    async fn journaled(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT object_key FROM blob_journal WHERE since < ? ORDER BY since LIMIT ?")
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn stuck_jobs(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<StuckJob>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS}, j.status, j.updated_at, j.requeues FROM jobs j JOIN images i ON i.id = j.image_id
             WHERE j.status IN ('pending', 'processing') AND j.updated_at < ? ORDER BY j.updated_at LIMIT ?"
        ));
        let rows = sqlx::query(sql).bind(before).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(stuck_job).collect::<Result<_, _>>().map_err(DbError)
    }

    async fn requeue_job(&self, image_id: i64, seen: NaiveDateTime) -> Result<bool, DbError> {
        let taken = sqlx::query(
            "UPDATE jobs SET updated_at = ?, requeues = requeues + (status = 'processing')
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
        let marked = sqlx::query(
            "INSERT INTO deletes (image_id, since) SELECT id, ? FROM images WHERE id = ? ON CONFLICT DO NOTHING",
        )
        .bind(now)
        .bind(image_id)
        .execute(&self.pool)
        .await?;
        if marked.rows_affected() == 1 {
            return Ok(true);
        }
        let taken = sqlx::query("UPDATE deletes SET since = ? WHERE image_id = ? AND since < ?")
            .bind(now)
            .bind(image_id)
            .bind(stale_before)
            .execute(&self.pool)
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn unmark_delete(&self, image_id: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM deletes WHERE image_id = ?").bind(image_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn leave_delete(&self, image_id: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE deletes SET since = ? WHERE image_id = ?")
            .bind(chrono::DateTime::UNIX_EPOCH.naive_utc())
            .bind(image_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stale_deletes(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM deletes d JOIN images i ON i.id = d.image_id WHERE d.since < ?
             ORDER BY d.since LIMIT ?"
        ));
        Ok(sqlx::query_as(sql).bind(before).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn check(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

//! SQLite backend of `MetaRepo`, and the one local database file that the
//! embedded queue and notifier share with it. The queries it shares with
//! MySQL are in `shared.rs`; here is what SQLite does its own way.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    Completion, DbError, ImageRow, ImageStats, JobState, Made, Migrated, NewImage, VariantRow, migrations, sha256,
    shared::{Dialect, InsertNew, ReadLocked, SetSince, meta_repo},
};
use crate::config::{DatabaseUrl, Settings};

/// Opens (creating if needed) and migrates the local SQLite database: the
/// `sqlite:` URL of `database.url`, else the file in `data_dir`.
pub async fn open_local(settings: &Settings) -> anyhow::Result<SqlitePool> {
    Ok(migrate_local(settings).await?.0)
}

/// As [`open_local`], saying what the migrations did.
pub async fn migrate_local(settings: &Settings) -> anyhow::Result<(SqlitePool, Migrated)> {
    tokio::fs::create_dir_all(&settings.data_dir).await?;
    let options = match &settings.database.url {
        DatabaseUrl::Sqlite(url) => SqliteConnectOptions::from_str(url)?,
        _ => SqliteConnectOptions::new().filename(settings.local_database()),
    };
    // WAL lets readers run beside the one writer; the busy timeout makes
    // writers from several tasks (or processes) queue instead of failing.
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool =
        SqlitePoolOptions::new().max_connections(settings.database.max_connections).connect_with(options).await?;
    let migrated = migrations::run(&sqlx::migrate!("./migrations/sqlite"), &pool).await?;
    hash_journal_keys(&pool).await?;
    Ok((pool, migrated))
}

/// Journal entries written before migration 0006 hold their key's text
/// where its SHA-256 goes: hashed here, as SQLite cannot.
async fn hash_journal_keys(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let unhashed: Vec<String> =
        sqlx::query_scalar("SELECT object_key FROM imaged_blob_journal WHERE key_hash = CAST(object_key AS BLOB)")
            .fetch_all(pool)
            .await?;
    for key in unhashed {
        sqlx::query("UPDATE imaged_blob_journal SET key_hash = ? WHERE key_hash = CAST(? AS BLOB)")
            .bind(sha256(&key))
            .bind(&key)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// A transaction that takes the write lock at once. A deferred one that
/// reads first fails with "database is locked" (without waiting) when it
/// tries to write after another connection has: `BEGIN IMMEDIATE` waits
/// its turn under the busy timeout instead.
pub async fn write_tx(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub struct SqliteRepo {
    pool: SqlitePool,
}

impl SqliteRepo {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    fn inserted_id(done: &sqlx::sqlite::SqliteQueryResult) -> i64 {
        done.last_insert_rowid()
    }
}

const IMAGE_COLUMNS: &str = "i.id, i.object_key, i.object_type, i.last_modified, i.object_size";
const INSERT_NEW: InsertNew = InsertNew("INSERT INTO", "ON CONFLICT DO NOTHING");
const SET_SINCE: SetSince = SetSince("ON CONFLICT DO UPDATE SET since = excluded.since");
const READ_LOCKED: ReadLocked = ReadLocked("");

meta_repo!(SqliteRepo, sqlx::Sqlite);

/// One writer at a time holds the file: a transaction that writes takes
/// the lock first ([`write_tx`]), so what it reads stays true until it commits.
#[async_trait]
impl Dialect for SqliteRepo {
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
        let id = Self::insert_rows(&mut tx, image, content_type).await?;
        sqlx::query("DELETE FROM imaged_blob_journal WHERE key_hash = ?")
            .bind(sha256(&image.object_key))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images i WHERE i.object_key = ? ORDER BY i.id DESC LIMIT 1"
        ));
        Ok(sqlx::query_as(sql).bind(key).fetch_optional(&self.pool).await?)
    }

    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError> {
        let mut tx = write_tx(&self.pool).await?;
        let variants = Self::delete_rows(&mut tx, id).await?;
        tx.commit().await?;
        Ok(variants)
    }

    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError> {
        let mut tx = write_tx(&self.pool).await?;
        let set = sqlx::query(
            "INSERT INTO imaged_jobs (image_id, status, error, content_type, updated_at)
             SELECT id, ?, ?, ?, ? FROM images WHERE id = ?
             ON CONFLICT (image_id) DO UPDATE SET status = excluded.status, error = excluded.error,
             content_type = COALESCE(excluded.content_type, imaged_jobs.content_type), updated_at = excluded.updated_at
             WHERE imaged_jobs.status <> 'done' OR (?6 IS NOT NULL AND imaged_jobs.source_tag IS NOT ?6)",
        )
        .bind(state.status.as_str())
        .bind(&state.error)
        .bind(&state.content_type)
        .bind(Utc::now().naive_utc())
        .bind(image_id)
        .bind(&state.source_tag)
        .execute(&mut *tx)
        .await?;
        if set.rows_affected() > 0 {
            Self::record_event(&mut tx, image_id, state.status.as_str()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError> {
        let mut tx = write_tx(&self.pool).await?;
        let completion = Self::complete_in(&mut tx, image_id, made).await?;
        tx.commit().await?;
        Ok(completion)
    }

    async fn image_stats(&self) -> Result<ImageStats, DbError> {
        let (count, total_bytes, min_bytes, max_bytes): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(object_size), 0), MIN(object_size), MAX(object_size) FROM images",
        )
        .fetch_one(&self.pool)
        .await?;
        let thumbnail_bytes = sqlx::query_scalar("SELECT COALESCE(SUM(object_size), 0) FROM imaged_variants")
            .fetch_one(&self.pool)
            .await?;
        let by_type = sqlx::query_as(
            "SELECT COALESCE(j.content_type, i.object_type) AS kind, COUNT(*) FROM images i
             LEFT JOIN imaged_jobs j ON j.image_id = i.id GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ImageStats { count, total_bytes, min_bytes, max_bytes, thumbnail_bytes, by_type })
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::db::MetaRepo;

    /// A database as imaged made it before migration `before`.
    async fn earlier_database(dir: &Path, before: &str) -> SqlitePool {
        let all = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let earlier = dir.join("earlier-migrations");
        std::fs::create_dir_all(&earlier).unwrap();
        for entry in std::fs::read_dir(all).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_str().unwrap() < before {
                std::fs::copy(&path, earlier.join(path.file_name().unwrap())).unwrap();
            }
        }
        let options = SqliteConnectOptions::new().filename(dir.join("imaged.db")).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(earlier).await.unwrap().run(&pool).await.unwrap();
        pool
    }

    #[tokio::test]
    async fn a_database_of_an_earlier_imaged_keeps_its_rows_and_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let old = earlier_database(dir.path(), "0006").await;
        for sql in [
            "INSERT INTO images VALUES (7, 'images/a.jpg', 'binary/octet-stream', '2026-11-24 05:14:53', 637)",
            "INSERT INTO jobs (image_id, status, updated_at) VALUES (7, 'done', '2026-11-24 05:15:00')",
            "INSERT INTO variants VALUES (7, 128, 128, 96, 'thumbnails/a.jpg/128.jpg', 99)",
            "INSERT INTO blob_journal VALUES ('images/left behind.jpg', '2026-11-24 05:16:00')",
        ] {
            sqlx::query(sql).execute(&old).await.unwrap();
        }
        old.close().await;

        let settings = Settings { data_dir: dir.path().to_owned(), ..Settings::default() };
        let repo = SqliteRepo::new(open_local(&settings).await.unwrap());
        assert_eq!(repo.image(7).await.unwrap().unwrap().object_size, 637);
        assert_eq!(repo.job(7).await.unwrap().unwrap().status, crate::db::JobStatus::Done);
        assert_eq!(repo.variants(7).await.unwrap()[0].object_key, "thumbnails/a.jpg/128.jpg");
        let now = Utc::now().naive_utc();
        assert_eq!(repo.journaled(now, 10).await.unwrap(), ["images/left behind.jpg"]);
        // Keyed by its hash now, as a new entry is: unjournal finds it.
        repo.unjournal("images/left behind.jpg").await.unwrap();
        assert!(repo.journaled(now, 10).await.unwrap().is_empty());
    }
}

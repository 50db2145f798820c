//! The SQL both databases run as written, written once. [`meta_repo!`]
//! expands it into each backend's `MetaRepo` impl, for that backend's pool
//! and row types; the tables have the same names on both (`images`, and
//! imaged's own `imaged_*`). What the dialects do differently (upserts,
//! locking, casts, and how a key is claimed) each backend writes in its
//! [`Dialect`] impl, which the `MetaRepo` impl calls.
//!
//! A backend names the columns of an `images` row read through the alias
//! `i` in its `IMAGE_COLUMNS` (MySQL casts its unsigned id and its
//! `TIMESTAMP`).

use super::{Completion, DbError, ImageRow, ImageStats, JobState, Made, NewImage, VariantRow};
use async_trait::async_trait;

/// What each database does its own way; see [`super::MetaRepo`] for what
/// each method means.
#[async_trait]
pub(super) trait Dialect {
    async fn insert_image(&self, image: &NewImage, content_type: Option<&str>) -> Result<i64, DbError>;
    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError>;
    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError>;
    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError>;
    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError>;
    async fn image_stats(&self) -> Result<ImageStats, DbError>;
}

/// How a dialect writes an insert that does nothing when the key is taken:
/// the words before the table, and those after the values.
pub(super) struct InsertNew(pub &'static str, pub &'static str);

/// How a dialect's upsert sets `since` to the value it would have inserted.
pub(super) struct SetSince(pub &'static str);

/// How a dialect makes a read wait for the writers of the rows it reads
/// and see what they committed (MySQL reads a snapshot otherwise; SQLite
/// reads under its one writer's lock already).
pub(super) struct ReadLocked(pub &'static str);

/// `meta_repo!(Repo, Database)`: `MetaRepo` for `Repo` (which has a `pool`
/// of `Database`, an `inserted_id` of its query results, `IMAGE_COLUMNS`,
/// `INSERT_NEW`, `SET_SINCE` and `READ_LOCKED` in scope, and a [`Dialect`] impl), and the
/// steps its dialect shares inside its own transactions (`steps.rs`).
macro_rules! meta_repo {
    ($repo:ty, $db:ty) => {
        $crate::db::steps::transaction_steps!($repo, $db);

        #[async_trait::async_trait]
        impl $crate::db::MetaRepo for $repo {
            async fn insert_image(
                &self,
                image: &$crate::db::NewImage,
                content_type: Option<&str>,
            ) -> Result<i64, $crate::db::DbError> {
                $crate::db::shared::Dialect::insert_image(self, image, content_type).await
            }

            async fn image(&self, id: i64) -> Result<Option<$crate::db::ImageRow>, $crate::db::DbError> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE i.id = ?"));
                Ok(sqlx::query_as(sql).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn image_by_key(&self, key: &str) -> Result<Option<$crate::db::ImageRow>, $crate::db::DbError> {
                $crate::db::shared::Dialect::image_by_key(self, key).await
            }

            async fn images(&self) -> Result<Vec<$crate::db::ImageRow>, $crate::db::DbError> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images i ORDER BY i.id"));
                Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
            }

            async fn page(&self, query: &$crate::db::PageQuery) -> Result<Vec<$crate::db::Listed>, $crate::db::DbError> {
                use sqlx::{FromRow, Row};
                use $crate::db::JobStatus;
                let status = match query.status {
                    None => "",
                    Some(JobStatus::Pending) => "AND (j.status = 'pending' OR j.status IS NULL)",
                    Some(_) => "AND j.status = ?",
                };
                // The JPEG a card shows: the smallest of at least the size
                // asked for, else the largest.
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {IMAGE_COLUMNS}, j.status, j.error, j.content_type, j.source_tag,
                     v.size, v.format, v.width, v.height, v.object_key AS variant_key, v.object_size AS variant_size
                     FROM images i
                     LEFT JOIN imaged_jobs j ON j.image_id = i.id
                     LEFT JOIN imaged_variants v ON v.image_id = i.id AND v.format = 'jpeg' AND v.size = COALESCE(
                         (SELECT MIN(m.size) FROM imaged_variants m WHERE m.image_id = i.id AND m.size >= ?),
                         (SELECT MAX(m.size) FROM imaged_variants m WHERE m.image_id = i.id))
                     WHERE i.id < ? {status} ORDER BY i.id DESC LIMIT ?"
                ));
                let mut select =
                    sqlx::query(sql).bind(i64::from(query.thumbnail)).bind(query.before.unwrap_or(i64::MAX));
                if let Some(wanted) = query.status.filter(|s| *s != JobStatus::Pending) {
                    select = select.bind(wanted.as_str());
                }
                let rows = select.bind(i64::from(query.limit)).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let status: Option<&str> = r.try_get("status")?;
                        let card = match r.try_get::<Option<i64>, _>("size")? {
                            None => None,
                            Some(size) => Some($crate::db::VariantRow {
                                size,
                                format: $crate::imaging::Format::Jpeg,
                                width: r.try_get("width")?,
                                height: r.try_get("height")?,
                                object_key: r.try_get("variant_key")?,
                                object_size: r.try_get("variant_size")?,
                            }),
                        };
                        Ok($crate::db::Listed {
                            image: $crate::db::ImageRow::from_row(r)?,
                            job: $crate::db::JobState {
                                status: status.map_or(JobStatus::Pending, JobStatus::parse),
                                error: r.try_get("error")?,
                                content_type: r.try_get("content_type")?,
                                source_tag: r.try_get("source_tag")?,
                            },
                            card,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn delete_image(
                &self,
                id: i64,
            ) -> Result<Option<Vec<$crate::db::VariantRow>>, $crate::db::DbError> {
                $crate::db::shared::Dialect::delete_image(self, id).await
            }

            async fn job(&self, image_id: i64) -> Result<Option<$crate::db::JobState>, $crate::db::DbError> {
                use sqlx::Row;
                let row = sqlx::query("SELECT status, error, content_type, source_tag FROM imaged_jobs WHERE image_id = ?")
                    .bind(image_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| $crate::db::JobState {
                    status: $crate::db::JobStatus::parse(r.get("status")),
                    error: r.get("error"),
                    content_type: r.get("content_type"),
                    source_tag: r.get("source_tag"),
                }))
            }

            async fn set_job(&self, image_id: i64, state: &$crate::db::JobState) -> Result<(), $crate::db::DbError> {
                $crate::db::shared::Dialect::set_job(self, image_id, state).await
            }

            async fn is_made(
                &self,
                image_id: i64,
                source: &$crate::storage::BlobMeta,
                wanted: &[(i64, $crate::imaging::Format)],
            ) -> Result<bool, $crate::db::DbError> {
                let mut conn = self.pool.acquire().await?;
                let made = Self::made_state(&mut conn, image_id).await?;
                Ok(made.is_some_and(|made| made.covers(source, wanted)))
            }

            async fn complete_job(
                &self,
                image_id: i64,
                made: &$crate::db::Made<'_>,
            ) -> Result<$crate::db::Completion, $crate::db::DbError> {
                $crate::db::shared::Dialect::complete_job(self, image_id, made).await
            }

            async fn variants(&self, image_id: i64) -> Result<Vec<$crate::db::VariantRow>, $crate::db::DbError> {
                let mut variants: Vec<$crate::db::VariantRow> = sqlx::query_as(
                    "SELECT size, format, width, height, object_key, object_size FROM imaged_variants
                     WHERE image_id = ?",
                )
                .bind(image_id)
                .fetch_all(&self.pool)
                .await?;
                // Formats in their own order (JPEG first), not their names'.
                variants.sort_by_key(|v| (v.size, v.format));
                Ok(variants)
            }

            async fn job_counts(&self) -> Result<Vec<(String, i64)>, $crate::db::DbError> {
                Ok(sqlx::query_as("SELECT status, COUNT(*) FROM imaged_jobs GROUP BY status ORDER BY status")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn image_stats(&self) -> Result<$crate::db::ImageStats, $crate::db::DbError> {
                $crate::db::shared::Dialect::image_stats(self).await
            }

            async fn job_durations(
                &self,
                since: chrono::NaiveDateTime,
                limit: u32,
            ) -> Result<Vec<i64>, $crate::db::DbError> {
                Ok(sqlx::query_scalar(
                    "SELECT duration_ms FROM imaged_jobs
                     WHERE status = 'done' AND updated_at >= ? AND duration_ms IS NOT NULL
                     ORDER BY updated_at DESC LIMIT ?",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn claim_notice(&self, image_id: i64) -> Result<bool, $crate::db::DbError> {
                let claimed = sqlx::query(
                    "UPDATE imaged_jobs SET notified = TRUE WHERE image_id = ? AND status = 'done' AND NOT notified",
                )
                .bind(image_id)
                .execute(&self.pool)
                .await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn release_notice(&self, image_id: i64) -> Result<(), $crate::db::DbError> {
                sqlx::query("UPDATE imaged_jobs SET notified = FALSE WHERE image_id = ?")
                    .bind(image_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn claim_sent_notice(&self, text: &str) -> Result<bool, $crate::db::DbError> {
                let $crate::db::shared::InsertNew(insert, unless_taken) = INSERT_NEW;
                let sql = sqlx::AssertSqlSafe(format!(
                    "{insert} imaged_sent_notices (digest, sent_at) VALUES (?, ?) {unless_taken}"
                ));
                let claimed = sqlx::query(sql)
                    .bind($crate::db::sha256(text))
                    .bind(chrono::Utc::now().naive_utc())
                    .execute(&self.pool)
                    .await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn release_sent_notice(&self, text: &str) -> Result<(), $crate::db::DbError> {
                sqlx::query("DELETE FROM imaged_sent_notices WHERE digest = ?")
                    .bind($crate::db::sha256(text))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn prune_sent_notices(&self, before: chrono::NaiveDateTime) -> Result<u64, $crate::db::DbError> {
                let pruned = sqlx::query("DELETE FROM imaged_sent_notices WHERE sent_at < ?")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(pruned.rows_affected())
            }

            async fn journal(&self, key: &str) -> Result<(), $crate::db::DbError> {
                let $crate::db::shared::SetSince(set_since) = SET_SINCE;
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO imaged_blob_journal (key_hash, object_key, since) VALUES (?, ?, ?) {set_since}"
                ));
                sqlx::query(sql)
                    .bind($crate::db::sha256(key))
                    .bind(key)
                    .bind(chrono::Utc::now().naive_utc())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn unjournal(&self, key: &str) -> Result<(), $crate::db::DbError> {
                sqlx::query("DELETE FROM imaged_blob_journal WHERE key_hash = ?")
                    .bind($crate::db::sha256(key))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn journaled(&self, before: chrono::NaiveDateTime, limit: u32) -> Result<Vec<String>, $crate::db::DbError> {
                Ok(sqlx::query_scalar("SELECT object_key FROM imaged_blob_journal WHERE since < ? ORDER BY since LIMIT ?")
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn stuck_jobs(
                &self,
                before: chrono::NaiveDateTime,
                limit: u32,
            ) -> Result<Vec<$crate::db::StuckJob>, $crate::db::DbError> {
                use sqlx::{FromRow, Row};
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {IMAGE_COLUMNS}, j.status, j.updated_at, j.requeues FROM imaged_jobs j
                     JOIN images i ON i.id = j.image_id
                     WHERE j.status IN ('pending', 'processing') AND j.updated_at < ? ORDER BY j.updated_at LIMIT ?"
                ));
                let rows = sqlx::query(sql).bind(before).bind(limit).fetch_all(&self.pool).await?;
                let stuck = |row: &<$db as sqlx::Database>::Row| -> Result<$crate::db::StuckJob, sqlx::Error> {
                    Ok($crate::db::StuckJob {
                        image: $crate::db::ImageRow::from_row(row)?,
                        status: $crate::db::JobStatus::parse(row.try_get("status")?),
                        updated_at: row.try_get("updated_at")?,
                        requeues: row.try_get("requeues")?,
                    })
                };
                Ok(rows.iter().map(stuck).collect::<Result<_, _>>()?)
            }

            async fn requeue_job(&self, image_id: i64, seen: chrono::NaiveDateTime) -> Result<bool, $crate::db::DbError> {
                let taken = sqlx::query(
                    "UPDATE imaged_jobs SET updated_at = ?, requeues = requeues + (status = 'processing')
                     WHERE image_id = ? AND updated_at = ? AND status IN ('pending', 'processing')",
                )
                .bind(chrono::Utc::now().naive_utc())
                .bind(image_id)
                .bind(seen)
                .execute(&self.pool)
                .await?;
                Ok(taken.rows_affected() == 1)
            }

            async fn mark_delete(
                &self,
                image_id: i64,
                stale_before: chrono::NaiveDateTime,
            ) -> Result<bool, $crate::db::DbError> {
                // A mark is inserted only while the image exists: the read of
                // its row waits for a delete under way, which takes its mark
                // with it.
                let $crate::db::shared::InsertNew(insert, unless_taken) = INSERT_NEW;
                let $crate::db::shared::ReadLocked(locked) = READ_LOCKED;
                let sql = sqlx::AssertSqlSafe(format!(
                    "{insert} imaged_deletes (image_id, since) SELECT id, ? FROM images WHERE id = ? {locked} {unless_taken}"
                ));
                let marked =
                    sqlx::query(sql).bind(chrono::Utc::now().naive_utc()).bind(image_id).execute(&self.pool).await?;
                if marked.rows_affected() == 1 {
                    return Ok(true);
                }
                let taken = sqlx::query("UPDATE imaged_deletes SET since = ? WHERE image_id = ? AND since < ?")
                    .bind(chrono::Utc::now().naive_utc())
                    .bind(image_id)
                    .bind(stale_before)
                    .execute(&self.pool)
                    .await?;
                Ok(taken.rows_affected() == 1)
            }

            async fn unmark_delete(&self, image_id: i64) -> Result<(), $crate::db::DbError> {
                sqlx::query("DELETE FROM imaged_deletes WHERE image_id = ?").bind(image_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn leave_delete(&self, image_id: i64) -> Result<(), $crate::db::DbError> {
                sqlx::query("UPDATE imaged_deletes SET since = ? WHERE image_id = ?")
                    .bind(chrono::DateTime::UNIX_EPOCH.naive_utc())
                    .bind(image_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn stale_deletes(
                &self,
                before: chrono::NaiveDateTime,
                limit: u32,
            ) -> Result<Vec<$crate::db::ImageRow>, $crate::db::DbError> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {IMAGE_COLUMNS} FROM imaged_deletes d JOIN images i ON i.id = d.image_id
                     WHERE d.since < ? ORDER BY d.since LIMIT ?"
                ));
                Ok(sqlx::query_as(sql).bind(before).bind(limit).fetch_all(&self.pool).await?)
            }

            async fn events(&self, after: i64, limit: u32) -> Result<Vec<$crate::db::Event>, $crate::db::DbError> {
                Ok(sqlx::query_as(
                    "SELECT seq, image_id, status, at FROM imaged_events WHERE seq > ? ORDER BY seq LIMIT ?",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn event_span(&self) -> Result<Option<(i64, i64)>, $crate::db::DbError> {
                let (first, last): (Option<i64>, Option<i64>) =
                    sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM imaged_events").fetch_one(&self.pool).await?;
                Ok(first.zip(last))
            }

            async fn prune_events(&self, before: chrono::NaiveDateTime) -> Result<u64, $crate::db::DbError> {
                let pruned = sqlx::query("DELETE FROM imaged_events WHERE at < ?").bind(before).execute(&self.pool).await?;
                Ok(pruned.rows_affected())
            }

            async fn check(&self) -> Result<(), $crate::db::DbError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(super) use meta_repo;

//! The steps both databases take inside a transaction of their own (the
//! dialect decides how it begins and what it locks): `insert_rows`,
//! `made_state`, `delete_rows` and `complete_in` (with `record_made`), and
//! `record_event`, which each of them that changes an image's state calls
//! (and `set_job` on each backend), written once and expanded
//! for each backend's connection type by `transaction_steps!`, which
//! `meta_repo!` (`shared.rs`) invokes.

macro_rules! transaction_steps {
    ($repo:ty, $db:ty) => {
        impl $repo {
            /// What the image's job last made; `None` without the image or its job.
            async fn made_state(
                conn: &mut <$db as sqlx::Database>::Connection,
                image_id: i64,
            ) -> Result<Option<$crate::db::MadeState>, sqlx::Error> {
                use sqlx::{FromRow, Row};
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT j.status, j.source_tag, {IMAGE_COLUMNS} FROM images i
                     JOIN imaged_jobs j ON j.image_id = i.id WHERE i.id = ?"
                ));
                let Some(row) = sqlx::query(sql).bind(image_id).fetch_optional(&mut *conn).await? else {
                    return Ok(None);
                };
                let image = $crate::db::ImageRow::from_row(&row)?;
                let made: Vec<(i64, String)> =
                    sqlx::query_as("SELECT size, format FROM imaged_variants WHERE image_id = ?")
                        .bind(image_id)
                        .fetch_all(&mut *conn)
                        .await?;
                // A format this imaged does not know is not one it made.
                let made = made.into_iter().filter_map(|(size, format)| Some((size, format.parse().ok()?))).collect();
                Ok(Some($crate::db::MadeState {
                    done: row.try_get::<&str, _>("status")? == "done",
                    made,
                    source_tag: row.try_get("source_tag")?,
                    object_size: image.object_size,
                    last_modified: image.last_modified,
                }))
            }

            /// Inserts the image's row and its pending job; the row's id.
            async fn insert_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                image: &$crate::db::NewImage,
                content_type: Option<&str>,
            ) -> Result<i64, sqlx::Error> {
                let inserted = sqlx::query(
                    "INSERT INTO images (object_key, object_type, last_modified, object_size) VALUES (?, ?, ?, ?)",
                )
                .bind(&image.object_key)
                .bind(&image.object_type)
                .bind(image.last_modified)
                .bind(image.object_size)
                .execute(&mut *conn)
                .await?;
                let id = Self::inserted_id(&inserted);
                sqlx::query(
                    "INSERT INTO imaged_jobs (image_id, status, content_type, updated_at) VALUES (?, 'pending', ?, ?)",
                )
                .bind(id)
                .bind(content_type)
                .bind(chrono::Utc::now().naive_utc())
                .execute(&mut *conn)
                .await?;
                Self::record_event(&mut *conn, id, "pending").await?;
                Ok(id)
            }

            /// Appends a change of image `image_id`'s state to the change
            /// feed, in the caller's transaction.
            async fn record_event(
                conn: &mut <$db as sqlx::Database>::Connection,
                image_id: i64,
                status: &str,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("INSERT INTO imaged_events (image_id, status, at) VALUES (?, ?, ?)")
                    .bind(image_id)
                    .bind(status)
                    .bind(chrono::Utc::now().naive_utc())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Removes the image's row, job, variants and delete mark; the
            /// variants, or `None` when there was no row.
            async fn delete_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
            ) -> Result<Option<Vec<$crate::db::VariantRow>>, sqlx::Error> {
                let variants = sqlx::query_as(
                    "SELECT size, format, width, height, object_key, object_size FROM imaged_variants
                     WHERE image_id = ? ORDER BY size, format",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                let deleted = sqlx::query("DELETE FROM images WHERE id = ?").bind(id).execute(&mut *conn).await?;
                for table in ["imaged_variants", "imaged_jobs", "imaged_deletes"] {
                    let sql = sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE image_id = ?"));
                    sqlx::query(sql).bind(id).execute(&mut *conn).await?;
                }
                if deleted.rows_affected() == 0 {
                    return Ok(None);
                }
                Self::record_event(&mut *conn, id, "deleted").await?;
                Ok(Some(variants))
            }

            /// `complete_job` within the caller's transaction, which it
            /// commits: what a job made is recorded unless the image is gone
            /// or already made from the same bytes.
            async fn complete_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                image_id: i64,
                made: &$crate::db::Made<'_>,
            ) -> Result<$crate::db::Completion, sqlx::Error> {
                let Some(state) = Self::made_state(&mut *conn, image_id).await? else {
                    return Ok($crate::db::Completion::Gone);
                };
                let wanted: Vec<_> = made.variants.iter().map(|v| (v.size, v.format)).collect();
                if state.covers(made.source, &wanted) {
                    return Ok($crate::db::Completion::AlreadyDone);
                }
                Self::record_made(conn, image_id, made, &state).await?;
                Ok($crate::db::Completion::Done)
            }

            /// Replaces the image's variants with what a job made and marks
            /// its job done, with the source's tag; the row takes the
            /// source's size, time and type when they are new.
            async fn record_made(
                conn: &mut <$db as sqlx::Database>::Connection,
                image_id: i64,
                made: &$crate::db::Made<'_>,
                state: &$crate::db::MadeState,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("DELETE FROM imaged_variants WHERE image_id = ?")
                    .bind(image_id)
                    .execute(&mut *conn)
                    .await?;
                for v in made.variants {
                    sqlx::query(
                        "INSERT INTO imaged_variants (image_id, size, format, width, height, object_key, object_size)
                         VALUES (?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(image_id)
                    .bind(v.size)
                    .bind(v.format.name())
                    .bind(v.width)
                    .bind(v.height)
                    .bind(&v.object_key)
                    .bind(v.object_size)
                    .execute(&mut *conn)
                    .await?;
                }
                sqlx::query(
                    "UPDATE imaged_jobs SET status = 'done', error = NULL, updated_at = ?, duration_ms = ?,
                     source_tag = ? WHERE image_id = ?",
                )
                .bind(chrono::Utc::now().naive_utc())
                .bind($crate::db::millis(made.took))
                .bind(&made.source.tag)
                .bind(image_id)
                .execute(&mut *conn)
                .await?;
                Self::record_event(&mut *conn, image_id, "done").await?;
                let source = made.source;
                if source.size as i64 != state.object_size || source.last_modified != state.last_modified {
                    sqlx::query("UPDATE images SET object_size = ?, last_modified = ?, object_type = ? WHERE id = ?")
                        .bind(source.size as i64)
                        .bind(source.last_modified)
                        .bind(&source.content_type)
                        .bind(image_id)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }
        }
    };
}

pub(super) use transaction_steps;

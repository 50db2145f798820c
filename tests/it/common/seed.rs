//! Thousands of images in seconds, for the gallery at scale: rows copied
//! by SQL from images imaged made, each copy sharing its original's
//! objects (thumbnails included), so every card has a real thumbnail.

use imaged::config::{DatabaseUrl, Settings};
use sqlx::{Connection, MySqlConnection, SqliteConnection};

/// Adds `copies` rows after the `made` images there are (ids 1..=made,
/// all finished), copying their jobs and variants. The same SQL text on
/// both databases.
pub async fn copies(settings: &Settings, made: i64, copies: i64) {
    assert_eq!(copies % made, 0, "whole rounds of the made images");
    let images = format!(
        "INSERT INTO images (object_key, object_type, last_modified, object_size)
         SELECT object_key, object_type, last_modified, object_size FROM images WHERE id <= {made} ORDER BY id"
    );
    let originals = format!("FROM images i JOIN images o ON o.object_key = i.object_key AND o.id <= {made}");
    let jobs = format!(
        "INSERT INTO imaged_jobs (image_id, status, error, content_type, updated_at, duration_ms, source_tag)
         SELECT i.id, j.status, j.error, j.content_type, j.updated_at, j.duration_ms, j.source_tag
         {originals} JOIN imaged_jobs j ON j.image_id = o.id WHERE i.id > {made}"
    );
    let variants = format!(
        "INSERT INTO imaged_variants (image_id, size, format, width, height, object_key, object_size)
         SELECT i.id, v.size, v.format, v.width, v.height, v.object_key, v.object_size
         {originals} JOIN imaged_variants v ON v.image_id = o.id WHERE i.id > {made}"
    );
    let rounds = copies / made;
    match &settings.database.url {
        DatabaseUrl::Mysql(url) => {
            // CloudX's own table, not imaged's view of it, which MySQL does
            // not let a statement both read and write.
            let mut cloudx = MySqlConnection::connect(url).await.expect("connect to the CloudX database");
            for _ in 0..rounds {
                sqlx::raw_sql(sqlx::AssertSqlSafe(images.clone())).execute(&mut cloudx).await.expect("copy images");
            }
            let (server, _) = url.rsplit_once('/').expect("a database in the URL");
            let schema = format!("{server}/{}", settings.database.schema);
            let mut imaged = MySqlConnection::connect(&schema).await.expect("connect to imaged's schema");
            for sql in [jobs, variants] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut imaged).await.expect("copy jobs and variants");
            }
        }
        _ => {
            let path = settings.local_database();
            let mut conn =
                SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("open SQLite");
            for _ in 0..rounds {
                sqlx::raw_sql(sqlx::AssertSqlSafe(images.clone())).execute(&mut conn).await.expect("copy images");
            }
            for sql in [jobs, variants] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("copy jobs and variants");
            }
        }
    }
}

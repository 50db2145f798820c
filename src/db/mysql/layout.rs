//! imaged's schema beside the CloudX database, on the same server. The
//! CloudX database keeps `images` alone, as CloudX made it (its users'
//! suites list its tables). imaged's schema holds imaged's tables and a
//! view `images` of CloudX's table, through which imaged reads and writes
//! it: so each statement names its tables unqualified, as on SQLite.
//!
//! Earlier imageds kept their tables in the CloudX database: they move
//! here, with their rows, in one atomic `RENAME TABLE`.

use anyhow::bail;
use sqlx::{Executor, MySqlConnection};

/// imaged's tables, as every migration so far named them.
const TABLES: [&str; 8] = [
    "imaged_migrations",
    "imaged_objects",
    "imaged_jobs",
    "imaged_variants",
    "imaged_blob_journal",
    "imaged_sent_notices",
    "imaged_deletes",
    "imaged_events",
];

/// CloudX's own statement, run in its database: on one CloudX has been
/// writing to, it does nothing.
const CLOUDX_IMAGES: &str = "CREATE TABLE IF NOT EXISTS images (id SERIAL NOT NULL PRIMARY KEY, \
    object_key TEXT NOT NULL, object_type TEXT NOT NULL, last_modified timestamp NOT NULL, \
    object_size BIGINT NOT NULL)";

/// On `conn`, connected to the CloudX database `cloudx`: creates `images`
/// if it is missing, then the schema `schema` with its view of it, and
/// moves an earlier imaged's tables there. One host at a time.
pub async fn prepare(conn: &mut MySqlConnection, cloudx: &str, schema: &str) -> anyhow::Result<()> {
    if cloudx == schema {
        bail!("database.schema = {schema:?} is the CloudX database itself: imaged's tables need a schema of their own");
    }
    let lock = format!("imaged layout {schema}");
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 60)").bind(&lock).fetch_one(&mut *conn).await?;
    if locked != Some(1) {
        bail!("another imaged host has been laying out schema `{schema}` for 60 s");
    }
    let laid_out = lay_out(conn, cloudx, schema).await;
    sqlx::query("SELECT RELEASE_LOCK(?)").bind(&lock).execute(&mut *conn).await?;
    match laid_out {
        Err(err) if is_access_denied(&err) => Err(missing_grant(conn, schema, err).await),
        other => Ok(other?),
    }
}

async fn lay_out(conn: &mut MySqlConnection, cloudx: &str, schema: &str) -> Result<(), sqlx::Error> {
    conn.execute(CLOUDX_IMAGES).await?;
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
        .bind(schema)
        .fetch_one(&mut *conn)
        .await?;
    if exists == 0 {
        let sql = format!("CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4", quoted(schema));
        conn.execute(sqlx::AssertSqlSafe(sql)).await?;
        tracing::info!(schema, "created imaged's schema");
    }
    create_view(conn, cloudx, schema).await?;
    move_tables(conn, cloudx, schema).await
}

/// The view `images` in `schema`, of `cloudx`'s table. A schema whose view
/// reads another CloudX database keeps that one's state: refused.
async fn create_view(conn: &mut MySqlConnection, cloudx: &str, schema: &str) -> Result<(), sqlx::Error> {
    let found: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT t.TABLE_TYPE, v.VIEW_DEFINITION FROM information_schema.TABLES t
         LEFT JOIN information_schema.VIEWS v ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
         WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = 'images'",
    )
    .bind(schema)
    .fetch_optional(&mut *conn)
    .await?;
    let reads = format!("from {}.`images`", quoted(cloudx));
    match found {
        None => {
            let sql = format!(
                "CREATE ALGORITHM = MERGE SQL SECURITY INVOKER VIEW {}.images AS \
                 SELECT id, object_key, object_type, last_modified, object_size FROM {}.images",
                quoted(schema),
                quoted(cloudx)
            );
            conn.execute(sqlx::AssertSqlSafe(sql)).await?;
            Ok(())
        }
        Some((kind, Some(definition))) if kind == "VIEW" && definition.contains(&reads) => Ok(()),
        Some((kind, definition)) => Err(sqlx::Error::Configuration(
            format!(
                "schema `{schema}` holds another `images` ({kind}: {}), so it keeps imaged's state for another \
                 CloudX database: set database.schema to a schema of its own for `{cloudx}`",
                definition.unwrap_or_default()
            )
            .into(),
        )),
    }
}

/// An earlier imaged's tables in the CloudX database, moved to `schema`
/// with their rows, all in one statement.
async fn move_tables(conn: &mut MySqlConnection, cloudx: &str, schema: &str) -> Result<(), sqlx::Error> {
    let placeholders = vec!["?"; TABLES.len()].join(", ");
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
         WHERE TABLE_SCHEMA IN (?, ?) AND TABLE_NAME IN ({placeholders})"
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(cloudx).bind(schema);
    for table in TABLES {
        query = query.bind(table);
    }
    let found: Vec<(String, String)> = query.fetch_all(&mut *conn).await?;
    let old: Vec<&str> = found.iter().filter(|(s, _)| s == cloudx).map(|(_, t)| t.as_str()).collect();
    if old.is_empty() {
        return Ok(());
    }
    if found.iter().any(|(s, _)| s == schema) {
        return Err(sqlx::Error::Configuration(
            format!(
                "both `{cloudx}` and `{schema}` hold imaged's tables: move or drop one set \
                 ({old:?} in `{cloudx}`) before imaged starts"
            )
            .into(),
        ));
    }
    let renames: Vec<String> = old
        .iter()
        .map(|table| format!("{}.{} TO {}.{}", quoted(cloudx), quoted(table), quoted(schema), quoted(table)))
        .collect();
    conn.execute(sqlx::AssertSqlSafe(format!("RENAME TABLE {}", renames.join(", ")))).await?;
    tracing::info!(from = cloudx, to = schema, tables = ?old, "moved imaged's tables out of the CloudX database");
    Ok(())
}

/// A MySQL identifier in backquotes.
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// MySQL's "access denied" errors: to a database (1044), a table (1142),
/// a command (1227).
fn is_access_denied(err: &sqlx::Error) -> bool {
    matches!(super::error_number(err), Some(1044 | 1142 | 1227))
}

/// The error for a user who may not lay out `schema`: the grant it lacks,
/// as the one statement an administrator runs.
async fn missing_grant(conn: &mut MySqlConnection, schema: &str, err: sqlx::Error) -> anyhow::Error {
    let user = match sqlx::query_scalar::<_, String>("SELECT CURRENT_USER()").fetch_one(&mut *conn).await {
        Ok(user) => user,
        Err(lookup) => return anyhow::Error::new(err).context(format!("and CURRENT_USER() failed: {lookup}")),
    };
    let (name, host) = user.rsplit_once('@').unwrap_or((&user, "%"));
    anyhow::Error::new(err).context(format!(
        "the database user {user} may not create imaged's tables in schema `{schema}`. \
         As an administrator, run: GRANT ALL PRIVILEGES ON {}.* TO '{name}'@'{host}'; then start imaged again",
        quoted(schema)
    ))
}

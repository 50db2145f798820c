//! imaged in the CloudX app's place, on MariaDB and moto: started from
//! CloudX's own settings alone (its variables, or its config.yaml), on
//! CloudX's port, leaving the CloudX database exactly as CloudX made it;
//! an earlier imaged's tables moved out of it; a user without the grant
//! told the statement that gives it.

use crate::common;

use std::collections::HashMap;

use common::{
    aws::{Fixture, Services},
    embedded_settings, jpeg, spawn,
};
use imaged::config::Settings;
use sqlx::{Connection, MySqlConnection};

/// The EC2 instance's, as its metadata tells it.
const PUBLIC_HOSTNAME: &str = "ec2-198-51-100-7.compute-1.amazonaws.com";

/// imaged's tables, as every migration so far named them.
const IMAGED_TABLES: [&str; 8] = [
    "imaged_blob_journal",
    "imaged_deletes",
    "imaged_events",
    "imaged_jobs",
    "imaged_migrations",
    "imaged_objects",
    "imaged_sent_notices",
    "imaged_variants",
];

async fn admin() -> MySqlConnection {
    MySqlConnection::connect(&Services::shared().mysql_url).await.unwrap()
}

async fn tables(conn: &mut MySqlConnection, schema: &str) -> Vec<String> {
    let sql = format!("SHOW TABLES FROM `{schema}`");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await.unwrap()
}

/// Settings on a fresh fixture's resources.
async fn on_a_fixture(dir: &std::path::Path) -> (Fixture, Settings) {
    let fixture = Fixture::create().await;
    let mut s = embedded_settings(dir);
    fixture.apply(&mut s);
    (fixture, s)
}

fn database_of(fixture: &Fixture) -> String {
    fixture.database_url.rsplit('/').next().unwrap().to_owned()
}

/// The variables of a CloudX host whose resources are `fixture`'s: the
/// database user's password in Secrets Manager, as CloudX reads it.
async fn cloudx_variables(fixture: &Fixture) -> Vec<(String, String)> {
    let admin = url::Url::parse(&Services::shared().mysql_url).unwrap();
    let secret = common::aws::unique("DatabaseSecret");
    aws_sdk_secretsmanager::Client::new(&fixture.sdk)
        .create_secret()
        .name(&secret)
        .secret_string(serde_json::json!({ "password": admin.password().unwrap() }).to_string())
        .send()
        .await
        .unwrap();
    [
        ("AWS_REGION", fixture.services.aws_settings().region),
        ("AWS_ENDPOINT_URL", fixture.services.moto_url.clone()),
        ("S3_BUCKET", fixture.bucket.clone()),
        ("QUEUE_URL", fixture.queue_url.clone()),
        ("TOPIC_ARN", fixture.topic_arn.clone()),
        ("DB_HOST", admin.host_str().unwrap().to_owned()),
        ("DB_PORT", admin.port().unwrap().to_string()),
        ("DB_NAME", database_of(fixture)),
        ("DB_USERNAME", admin.username().to_owned()),
        ("DB_PASSWORD_SECRET_NAME", secret),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Loads settings from `env` alone, as the binary does, with CloudX's
/// address on port 0 for the test; then runs the CloudX API through
/// uploads, jobs and a delete, and checks what the CloudX database holds.
async fn serves_cloudx(fixture: &Fixture, mut env: HashMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    // The instance's metadata, as on EC2 (the tests turn the real one off).
    env.insert("IMAGED__AWS__METADATA_URL".into(), common::metadata::start(PUBLIC_HOSTNAME));
    let mut s = Settings::load_as(None, env, "0.0.0.0:0").unwrap();
    assert_eq!(s.http.bind.to_string(), "0.0.0.0:0", "CloudX's address, from the same default as 0.0.0.0:80");
    assert!(s.decided.iter().any(|why| why.contains("the CloudX app's address")), "{:?}", s.decided);
    assert_eq!(s.database.schema, "imaged");
    // Not CloudX settings: the working folder, and the metrics port other
    // tests beside this one would clash on.
    s.data_dir = dir.path().to_owned();
    s.metrics.bind = None;
    let inbox = fixture.inbox().await;
    let app = spawn(s).await;

    let kept = app.upload_ok("kept.jpg", jpeg(400, 300)).await;
    let gone = app.upload_ok("gone.jpg", jpeg(300, 400)).await;
    for id in [kept, gone] {
        assert_eq!(app.finished(id).await["status"], "done");
    }
    // The link names the instance's public hostname and the port imaged
    // listens on (CloudX's 80 goes without one).
    let port = app.address.rsplit(':').next().unwrap();
    let link = format!("download_link: http://{PUBLIC_HOSTNAME}:{port}/api/image/file/{kept}");
    // The notice follows the job's end.
    let mut notices = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !notices.iter().any(|notice: &String| notice.ends_with(&link)) && std::time::Instant::now() < deadline {
        notices.extend(fixture.drain(&inbox).await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(notices.iter().any(|notice| notice.ends_with(&link)), "no {link} in {notices:?}");
    assert_eq!(app.delete(&format!("/api/image/{gone}")).await.status(), 200);
    assert_eq!(app.get(&format!("/api/image/{gone}")).await.status(), 404);
    assert_eq!(app.json(&format!("/api/image/{kept}")).await["id"], kept);
    app.stop().await;

    let mut conn = admin().await;
    assert_eq!(tables(&mut conn, &database_of(fixture)).await, ["images"], "the CloudX database as CloudX made it");
    let mut imaged = tables(&mut conn, "imaged").await;
    imaged.retain(|t| t != "images");
    assert_eq!(imaged, IMAGED_TABLES, "imaged's tables in its own schema, beside a view of CloudX's");
    let ids: Vec<u64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT id FROM `{}`.images", database_of(fixture))))
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(ids, [kept as u64]);
}

/// The one test on the default schema, `imaged`: both ways of giving
/// CloudX's settings, one after the other.
#[actix_web::test]
async fn a_cloudx_hosts_own_settings_alone_serve_the_cloudx_api_on_its_port() {
    let mut conn = admin().await;
    sqlx::query("DROP DATABASE IF EXISTS imaged").execute(&mut conn).await.unwrap();

    let fixture = Fixture::create().await;
    serves_cloudx(&fixture, cloudx_variables(&fixture).await.into_iter().collect()).await;

    // A schema keeps one CloudX database's state: another's is refused.
    let other = Fixture::create().await;
    let mut s = embedded_settings(tempfile::tempdir().unwrap().path());
    other.apply(&mut s);
    s.database.schema = "imaged".into();
    let refused = imaged::startup::Backends::build(&s).await.err().expect("a schema serves one CloudX database");
    assert!(format!("{refused:#}").contains("set database.schema"), "{refused:#}");

    // Only a config.yaml, as CloudX reads it from its folder.
    sqlx::query("DROP DATABASE imaged").execute(&mut conn).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("config.yaml");
    let lines: Vec<String> =
        cloudx_variables(&other).await.iter().map(|(key, value)| format!("{key}: \"{value}\"")).collect();
    std::fs::write(&yaml, lines.join("\n")).unwrap();
    let env = HashMap::from([("IMAGED__CLOUDX_CONFIG".to_owned(), yaml.to_string_lossy().into_owned())]);
    serves_cloudx(&other, env).await;
    sqlx::query("DROP DATABASE imaged").execute(&mut conn).await.unwrap();
}

/// Row counts of imaged's tables in `schema`.
async fn counts(conn: &mut MySqlConnection, schema: &str) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in IMAGED_TABLES {
        let sql = format!("SELECT COUNT(*) FROM `{schema}`.`{table}`");
        counts.push(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *conn).await.unwrap());
    }
    counts
}

#[actix_web::test]
async fn an_earlier_imageds_tables_move_out_of_the_cloudx_database_with_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = on_a_fixture(dir.path()).await;
    let database = database_of(&fixture);

    // A database filled by imaged: uploads, jobs, a delete.
    let app = spawn(s.clone()).await;
    let kept = app.upload_ok("kept.jpg", jpeg(400, 300)).await;
    let gone = app.upload_ok("gone.jpg", jpeg(300, 400)).await;
    let made = app.finished(kept).await;
    assert_eq!(app.finished(gone).await["status"], "done");
    assert_eq!(app.delete(&format!("/api/image/{gone}")).await.status(), 200);
    app.stop().await;

    // ... laid out as imaged laid it out before: its tables in the CloudX
    // database (the same migrations made them), no schema of its own.
    let mut conn = admin().await;
    let before = counts(&mut conn, &fixture.schema).await;
    assert!(before.iter().filter(|&&n| n > 0).count() >= 4, "{before:?}");
    let renames: Vec<String> =
        IMAGED_TABLES.iter().map(|t| format!("`{}`.`{t}` TO `{database}`.`{t}`", fixture.schema)).collect();
    let sql = format!("RENAME TABLE {}", renames.join(", "));
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    let sql = format!("DROP DATABASE `{}`", fixture.schema);
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    assert_eq!(tables(&mut conn, &database).await.len(), 1 + IMAGED_TABLES.len());

    let app = spawn(s).await;
    assert_eq!(tables(&mut conn, &database).await, ["images"]);
    assert_eq!(counts(&mut conn, &fixture.schema).await, before, "every row moved");
    assert_eq!(app.json(&format!("/api/image/{kept}/thumbnails")).await, made, "the job and its variants");
    assert_eq!(app.get(&format!("/api/image/{gone}")).await.status(), 404);
    let next = app.upload_ok("next.jpg", jpeg(200, 200)).await;
    assert_eq!(app.finished(next).await["status"], "done");
    app.stop().await;
}

#[actix_web::test]
async fn a_user_who_may_not_create_the_schema_is_told_the_grant_that_lets_it() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, mut s) = on_a_fixture(dir.path()).await;
    let database = database_of(&fixture);
    let user = format!("cx{}", &database[database.len() - 8..]);
    let mut conn = admin().await;
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'cx-pw'"),
        format!("GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
    let port = std::env::var("IMAGED_TEST_MYSQL_PORT").unwrap();
    s.database.url = format!("mysql://{user}:cx-pw@127.0.0.1:{port}/{database}").parse().unwrap();

    let refused = imaged::startup::Backends::build(&s).await.err().expect("the schema cannot be created");
    let refused = format!("{refused:#}");
    let grant = format!("GRANT ALL PRIVILEGES ON `{}`.* TO '{user}'@'%';", fixture.schema);
    assert!(refused.contains(&grant), "{refused}");

    // The statement, run as the error says, is all it takes.
    sqlx::query(sqlx::AssertSqlSafe(grant.trim_end_matches(';').to_owned())).execute(&mut conn).await.unwrap();
    imaged::startup::Backends::build(&s).await.expect("with the grant, imaged lays out its schema");
    assert_eq!(tables(&mut conn, &database).await, ["images"]);
}

/// `imaged migrate` on MySQL says what it did to imaged's schema, as on
/// SQLite: created it with every table, then that it is up to date.
#[actix_web::test]
async fn migrate_on_mysql_says_whether_it_created_imageds_tables() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::aws::create_database(&common::aws::unique("migrate")).await;
    let schema = common::aws::schema_of(&url);
    let migrate = || {
        let output = common::imaged_command()
            .arg("migrate")
            .env("IMAGED__DATA_DIR", dir.path())
            .env("IMAGED__DATABASE__URL", &url)
            .env("IMAGED__DATABASE__SCHEMA", &schema)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let first = migrate();
    assert!(first.starts_with("MySQL database on 127.0.0.1"), "{first}");
    assert!(
        first.contains(&format!("`{schema}`")) && first.trim_end().ends_with(": created, with every table"),
        "{first}"
    );
    let mut conn = admin().await;
    let mut made = tables(&mut conn, &schema).await;
    made.retain(|t| t != "images");
    assert_eq!(made, IMAGED_TABLES);
    assert!(migrate().trim_end().ends_with(": up to date"));
}

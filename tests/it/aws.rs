//! What only the production backends can show: S3 bucket notifications,
//! SQS dead-lettering by redrive policy, SNS publishing, a CloudX MySQL
//! database taken over, Secrets Manager and TLS, and two hosts on one
//! queue. Needs moto and MariaDB (`scripts/test` starts them).

use crate::common;

use std::time::Duration;

use aws_sdk_s3::types::{
    BucketVersioningStatus, Event, NotificationConfiguration, QueueConfiguration, VersioningConfiguration,
};
use common::{
    Daemon,
    aws::{Fixture, create_database, schema_of, unique},
    embedded_settings, eventually, jpeg, spawn,
};
use futures_util::StreamExt;
use serde_json::Value;
use sqlx::{Connection, MySqlConnection, Row};

/// Settings on a fresh fixture's resources.
async fn fixture_settings(dir: &std::path::Path) -> (Fixture, imaged::config::Settings) {
    let fixture = Fixture::create().await;
    let mut s = embedded_settings(dir);
    fixture.apply(&mut s);
    (fixture, s)
}

/// Has the fixture's bucket announce `events` on the fixture's queue.
async fn notify_queue(fixture: &Fixture, events: &[Event]) {
    let mut notify = QueueConfiguration::builder().queue_arn(fixture.queue_arn(&fixture.queue_url).await);
    for event in events {
        notify = notify.events(event.clone());
    }
    let config = NotificationConfiguration::builder().queue_configurations(notify.build().unwrap()).build();
    let put = fixture.s3().put_bucket_notification_configuration().bucket(&fixture.bucket);
    put.notification_configuration(config).send().await.unwrap();
}

#[actix_web::test]
async fn objects_put_straight_into_s3_get_a_row_and_thumbnails_and_leave_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = fixture_settings(dir.path()).await;
    notify_queue(&fixture, &[Event::S3ObjectCreated, Event::S3ObjectRemoved]).await;
    let app = spawn(s).await;

    let key = "images/straight into s3 ü.jpg";
    let body = jpeg(900, 600);
    fixture.s3().put_object().bucket(&fixture.bucket).key(key).body(body.clone().into()).send().await.unwrap();
    eventually("the object is listed", || async { !app.json("/api/image").await.as_array().unwrap().is_empty() }).await;
    let listed = app.json("/api/image").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "one row: {listed}");
    assert_eq!(
        (listed[0]["object_key"].as_str(), listed[0]["object_size"].as_u64()),
        (Some(key), Some(body.len() as u64))
    );
    let id = listed[0]["id"].as_i64().unwrap();
    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["thumbnails"].as_array().unwrap().len(), 3);
    app.drained().await; // the thumbnails' own events are read and dropped
    assert_eq!(app.json("/api/image").await.as_array().unwrap().len(), 1, "thumbnails get no rows");

    fixture.s3().delete_object().bucket(&fixture.bucket).key(key).send().await.unwrap();
    eventually("the row is gone", || async { app.json("/api/image").await.as_array().unwrap().is_empty() }).await;
    eventually("the thumbnails are gone", || async { app.blob_keys().await.is_empty() }).await;
    assert_eq!(app.get(&format!("/api/image/{id}")).await.status(), 404);

    // An upload through the API races its own bucket notification: still one row.
    let id = app.upload_ok("through the api.jpg", jpeg(400, 300)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    app.drained().await;
    let listed = app.json("/api/image").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "one row: {listed}");
    assert_eq!(listed[0]["id"], id);
    app.stop().await;
}

#[actix_web::test]
async fn an_object_put_again_under_its_key_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = fixture_settings(dir.path()).await;
    notify_queue(&fixture, &[Event::S3ObjectCreated]).await;
    let app = spawn(s).await;
    let key = "images/k.jpg";
    let put = |bytes: Vec<u8>| fixture.s3().put_object().bucket(&fixture.bucket).key(key).body(bytes.into()).send();
    let thumbnail_256 = |id: i64| {
        let app = &app;
        async move {
            let doc = app.json(&format!("/api/image/{id}/thumbnails")).await;
            let thumbnails = doc["thumbnails"].as_array().cloned().unwrap_or_default();
            let thumb = thumbnails.into_iter().find(|t| t["size"] == 256);
            thumb.map(|t| (t["width"].as_i64().unwrap(), t["height"].as_i64().unwrap()))
        }
    };

    put(jpeg(800, 600)).await.unwrap();
    eventually("the object is listed", || async { !app.json("/api/image").await.as_array().unwrap().is_empty() }).await;
    let id = app.json("/api/image").await[0]["id"].as_i64().unwrap();
    assert_eq!(app.finished(id).await["status"], "done");
    assert_eq!(thumbnail_256(id).await, Some((256, 192)));
    app.drained().await;

    let again = jpeg(300, 900);
    put(again.clone()).await.unwrap();
    eventually("the thumbnails follow the new bytes", || async { thumbnail_256(id).await == Some((85, 256)) }).await;
    let listed = app.json("/api/image").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "one row: {listed}");
    assert_eq!(listed[0]["object_size"].as_u64(), Some(again.len() as u64), "the row follows: {listed}");
    app.stop().await;
}

#[actix_web::test]
async fn a_cloudx_body_sent_by_hand_is_processed_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = fixture_settings(dir.path()).await;
    let inbox_url = fixture.inbox().await;
    let key = "images/5a8ef527-2608-4275-8e33-ed8f1f11647b-t1.jpg";
    let bytes = jpeg(640, 480);
    fixture.s3().put_object().bucket(&fixture.bucket).key(key).body(bytes.clone().into()).send().await.unwrap();
    let body = format!(
        "event_type: upload\nobject_key: {key}\nobject_type: binary/octet-stream\n\
         last_modified: 2026-11-24 05:14:53+00:00\nobject_size: {}\ndownload_link: http://ec2-host/api/image/file/1",
        bytes.len()
    );
    fixture.sqs().send_message().queue_url(&fixture.queue_url).message_body(&body).send().await.unwrap();
    let app = spawn(s).await;

    let mut published = Vec::new();
    for _ in 0..600 {
        published.extend(fixture.peek(&inbox_url).await);
        if !published.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(published, [body], "the CloudX body, as it came, is the notice");
    let listed = app.json("/api/image").await;
    assert_eq!(listed[0]["object_key"], key);
    assert_eq!(app.finished(listed[0]["id"].as_i64().unwrap()).await["status"], "done");
    app.stop().await;
}

#[actix_web::test]
async fn a_poison_message_reaches_the_dead_letter_queue_after_max_receive_count() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::with_max_receives(2).await;
    let mut s = embedded_settings(dir.path());
    fixture.apply(&mut s);
    s.queue.max_receives = 5; // the queue's redrive policy (2) decides instead
    let app = spawn(s).await;
    assert_eq!(app.backends.queue.max_receives(), 2);
    fixture.sqs().send_message().queue_url(&fixture.queue_url).message_body("hello, not a job").send().await.unwrap();

    eventually("the message is dead-lettered", || async { app.json("/api/stats").await["queue"]["dead_letters"] == 1 })
        .await;
    assert_eq!(fixture.peek(&fixture.dead_letter_url).await, ["hello, not a job"]);
    let stats = app.json("/api/stats").await;
    assert_eq!((stats["queue"]["depth"].as_u64(), stats["queue"]["in_flight"].as_u64()), (Some(0), Some(0)), "{stats}");
    // The recorder is per process; this is the only test here that scrapes.
    let metrics = app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "imaged_queue_dead_letters 1"), "the DLQ depth is exported");
    let queue = app.backends.dead_letters.clone();
    app.stop().await;

    // What `imaged dlq list` and `imaged dlq redrive` do.
    let listed = queue.list(10).await.unwrap();
    assert_eq!(listed.iter().map(|l| l.body.as_str()).collect::<Vec<_>>(), ["hello, not a job"]);
    // SQS counts every receive, the peek above's too.
    assert!(listed[0].receive_count >= 2, "{listed:?}");
    assert_eq!(queue.list(10).await.unwrap().len(), 1, "listing leaves the dead letters where they are");
    assert_eq!(queue.redrive(10).await.unwrap(), 1);
    assert_eq!(fixture.peek(&fixture.queue_url).await, ["hello, not a job"]);
    assert!(queue.list(10).await.unwrap().is_empty());
}

/// `imaged migrate` on the database at `url`.
fn migrate(dir: &std::path::Path, url: &str) {
    let migrate = common::imaged_command()
        .current_dir(dir)
        .arg("migrate")
        .env("IMAGED__DATABASE__URL", url)
        .env("IMAGED__DATABASE__SCHEMA", schema_of(url))
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
}

/// The CloudX app's own table and three rows written as it writes them.
async fn cloudx_database() -> (String, Vec<(u64, String, String, i64)>) {
    let url = create_database(&unique("cloudx")).await;
    let mut conn = MySqlConnection::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS images (id SERIAL NOT NULL PRIMARY KEY, object_key TEXT NOT NULL,
         object_type TEXT NOT NULL, last_modified timestamp NOT NULL, object_size BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (key, stamp, size) in [
        ("images/11111111-1111-4111-8111-111111111111-a.jpg", "2026-05-17 14:01:43", 27844),
        ("images/22222222-2222-4222-8222-222222222222-b.png", "2026-05-18 09:00:00", 637),
        ("images/33333333-3333-4333-8333-333333333333-c.jpeg", "2026-05-19 23:59:59", 1),
    ] {
        sqlx::query("INSERT INTO images (object_key, object_type, last_modified, object_size) VALUES (?, 'binary/octet-stream', ?, ?)")
            .bind(key)
            .bind(stamp)
            .bind(size)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let rows = images_table(&mut conn).await;
    (url, rows)
}

async fn images_table(conn: &mut MySqlConnection) -> Vec<(u64, String, String, i64)> {
    sqlx::query("SELECT id, object_key, DATE_FORMAT(last_modified, '%Y-%m-%d %H:%i:%s') AS t, object_size FROM images ORDER BY id")
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("id"), r.get("object_key"), r.get("t"), r.get("object_size")))
        .collect()
}

async fn show_create(conn: &mut MySqlConnection) -> String {
    sqlx::query("SHOW CREATE TABLE images").fetch_one(conn).await.unwrap().get(1)
}

#[actix_web::test]
async fn migrate_takes_over_a_cloudx_database_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (url, before) = cloudx_database().await;
    let mut conn = MySqlConnection::connect(&url).await.unwrap();
    let definition = show_create(&mut conn).await;

    migrate(dir.path(), &url);
    assert_eq!(images_table(&mut conn).await, before, "no CloudX row touched");
    assert_eq!(show_create(&mut conn).await, definition, "the images table is as CloudX made it");
    let tables: Vec<String> = sqlx::query_scalar("SHOW TABLES").fetch_all(&mut conn).await.unwrap();
    assert_eq!(tables, ["images"], "imaged's tables are in a schema of their own");

    // imaged serves CloudX's rows as CloudX did.
    let mut s = embedded_settings(dir.path());
    s.database.url = url.parse().unwrap();
    s.database.schema = schema_of(&url);
    s.queue.pollers = 0;
    let app = spawn(s).await;
    let listed = app.json("/api/image").await;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(
        listed[0],
        serde_json::json!({"id": before[0].0, "last_modified": "2026-05-17T14:01:43Z", "object_key": before[0].1,
            "object_size": 27844, "object_type": "binary/octet-stream"})
    );
    app.stop().await;
}

#[actix_web::test]
async fn migrate_on_an_empty_database_creates_cloudxs_images_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = create_database(&unique("empty")).await;
    migrate(dir.path(), &url);
    let mut conn = MySqlConnection::connect(&url).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'images' ORDER BY ORDINAL_POSITION",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["id", "object_key", "object_type", "last_modified", "object_size"]);
    let types: Vec<&str> = columns.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types, ["bigint(20) unsigned", "text", "text", "timestamp", "bigint(20)"]);
}

#[actix_web::test]
async fn the_password_comes_from_secrets_manager_over_tls_verified_against_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, mut s) = fixture_settings(dir.path()).await;
    let secret = unique("db-secret");
    let password = std::env::var("IMAGED_TEST_MYSQL_TLS_PASSWORD").unwrap();
    aws_sdk_secretsmanager::Client::new(&fixture.sdk)
        .create_secret()
        .name(&secret)
        .secret_string(serde_json::json!({ "password": password, "username": "ignored" }).to_string())
        .send()
        .await
        .unwrap();
    let database = fixture.database_url.rsplit('/').next().unwrap().to_owned();
    let port = std::env::var("IMAGED_TEST_MYSQL_PORT").unwrap();
    let user = std::env::var("IMAGED_TEST_MYSQL_TLS_USER").unwrap();
    s.database.url = format!("mysql://{user}@127.0.0.1:{port}/{database}").parse().unwrap();
    s.database.password_secret = secret;

    // A CA that did not sign the server's certificate is refused, with
    // the settings that decide it named.
    s.database.ca_file = "/etc/ssl/certs/ca-certificates.crt".into();
    let refused = imaged::startup::Backends::build(&s).await.err().expect("an unverifiable server is refused");
    let refused = format!("{refused:#}");
    assert!(
        refused.contains("failed verification") && refused.contains("database.tls = \"verify-identity\""),
        "{refused}"
    );
    assert!(refused.contains("set database.ca_file") && refused.contains("database.tls = \"preferred\""), "{refused}");
    // ... and taken, unchecked, under preferred, as the error offers.
    s.database.tls = imaged::config::DatabaseTls::Preferred;
    imaged::startup::Backends::build(&s).await.expect("preferred does not check who answers");
    s.database.tls = imaged::config::DatabaseTls::Auto;

    s.database.ca_file = std::env::var("IMAGED_TEST_MYSQL_CA").unwrap();
    let app = spawn(s).await;
    let id = app.upload_ok("tls.jpg", jpeg(300, 200)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    app.stop().await;
}

#[actix_web::test]
async fn two_hosts_on_one_queue_and_database_make_each_variant_once() {
    let fixture = Fixture::create().await;
    let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    let s3 = fixture.s3();
    s3.put_bucket_versioning().bucket(&fixture.bucket).versioning_configuration(versioning).send().await.unwrap();
    let envs: Vec<(String, String)> = [
        ("IMAGED__AWS__ENDPOINT_URL", common::aws::aws_settings().endpoint_url),
        ("IMAGED__AWS__REGION", "us-east-1".into()),
        ("IMAGED__STORAGE__BACKEND", "s3".into()),
        ("IMAGED__STORAGE__BUCKET", fixture.bucket.clone()),
        ("IMAGED__QUEUE__BACKEND", "sqs".into()),
        ("IMAGED__QUEUE__URL", fixture.queue_url.clone()),
        ("IMAGED__QUEUE__WAIT_SECS", "1".into()),
        ("IMAGED__NOTIFY__BACKEND", "sns".into()),
        ("IMAGED__NOTIFY__TOPIC_ARN", fixture.topic_arn.clone()),
        ("IMAGED__DATABASE__URL", fixture.database_url.clone()),
        ("IMAGED__DATABASE__SCHEMA", fixture.schema.clone()),
        ("IMAGED__PROCESSING__WORKERS", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut hosts = [Daemon::start(dir_a.path(), &envs), Daemon::start(dir_b.path(), &envs)];

    let client = reqwest::Client::new();
    let uploads = (0..50).map(|i| {
        let (client, url) = (client.clone(), hosts[i % 2].url("/api/image"));
        async move {
            let part = reqwest::multipart::Part::bytes(jpeg(320 + i as u32, 240)).file_name(format!("p{i}.jpg"));
            let response =
                client.post(url).multipart(reqwest::multipart::Form::new().part("upfile", part)).send().await;
            let body: Value = response.unwrap().json().await.unwrap();
            body["id"].as_i64().unwrap_or_else(|| panic!("upload {i}: {body}"))
        }
    });
    let ids: Vec<i64> = futures_util::stream::iter(uploads).buffer_unordered(8).collect().await;
    for id in &ids {
        let url = hosts[0].url(&format!("/api/image/{id}/thumbnails"));
        let mut status = Value::Null;
        for _ in 0..1200 {
            status = client.get(&url).send().await.unwrap().json::<Value>().await.unwrap()["status"].clone();
            if status == "done" || status == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "done", "image {id}:\n{}\n{}", hosts[0].log_tail(), hosts[1].log_tail());
    }

    let mut conn = MySqlConnection::connect(&fixture.database_url).await.unwrap();
    let (rows, keys): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT object_key) FROM images").fetch_one(&mut conn).await.unwrap();
    assert_eq!((rows, keys), (50, 50), "one row per upload");
    let versions = s3.list_object_versions().bucket(&fixture.bucket).prefix("thumbnails/").send().await.unwrap();
    let mut written: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for v in versions.versions() {
        *written.entry(v.key().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(written.len(), 50 * 3 * 2, "three sizes of each image, in JPEG and WebP");
    assert!(written.values().all(|&n| n == 1), "each variant written once: {written:?}");
    for host in &mut hosts {
        let status = host.stop();
        assert!(status.success(), "{status}:\n{}", host.log_tail());
    }
}

#[actix_web::test]
async fn a_large_upload_goes_up_in_parts_and_comes_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, mut s) = fixture_settings(dir.path()).await;
    s.queue.pollers = 0;
    let app = spawn(s).await;
    // A JPEG followed by padding: 17 MiB, so three 8 MiB parts.
    let mut big = jpeg(64, 48);
    big.resize(17 * 1024 * 1024, 0xA5);
    let id = app.upload_ok("big.jpg", big.clone()).await;
    let key = app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned();
    let head = fixture.s3().head_object().bucket(&fixture.bucket).key(&key).send().await.unwrap();
    assert!(head.e_tag().unwrap().trim_matches('"').ends_with("-3"), "a multipart ETag: {:?}", head.e_tag());
    let file = app.get(&format!("/api/image/file/{id}")).await;
    assert_eq!(file.status(), 200);
    assert!(file.bytes().await.unwrap() == big, "the same bytes back");
    app.stop().await;
}

#[actix_web::test]
async fn api_tokens_can_come_from_secrets_manager() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, mut s) = fixture_settings(dir.path()).await;
    let secret = unique("api-tokens");
    aws_sdk_secretsmanager::Client::new(&fixture.sdk)
        .create_secret()
        .name(&secret)
        .secret_string(serde_json::json!({ "api_tokens": "from-the-secret" }).to_string())
        .send()
        .await
        .unwrap();
    s.http.api_tokens = "from-the-file".to_owned().into();
    s.http.api_tokens_secret = secret;
    let app = spawn(s).await;
    for (token, status) in [("from-the-secret", 200), ("from-the-file", 200), ("neither", 401)] {
        let form = reqwest::multipart::Form::new()
            .part("upfile", reqwest::multipart::Part::bytes(jpeg(64, 48)).file_name("t.jpg"));
        let response = app.client.post(app.url("/api/image")).bearer_auth(token).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), status, "{token}");
    }
    app.stop().await;
}

/// `upload_url` on S3: a presigned PUT with its type and size signed; the
/// object goes straight into the bucket, and its event brings it in.
#[actix_web::test]
async fn a_presigned_put_lands_in_the_bucket_and_ends_done() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = fixture_settings(dir.path()).await;
    notify_queue(&fixture, &[Event::S3ObjectCreated]).await;
    let app = spawn(s).await;

    let bytes = jpeg(900, 600);
    let query = format!("filename=straight.jpg&content_type=image/jpeg&size={}", bytes.len());
    let grant = app.json(&format!("/api/image/upload_url?{query}")).await;
    assert_eq!(grant["direct_to_store"], true, "{grant}");
    let url = grant["url"].as_str().unwrap();
    assert!(url.contains(&format!("/{}/images/", fixture.bucket)), "path-style, to the bucket: {url}");
    let signed = url.split("X-Amz-SignedHeaders=").nth(1).unwrap().split('&').next().unwrap();
    assert_eq!(signed, "content-length%3Bcontent-type%3Bhost%3Bif-none-match", "{url}");

    let put = |body: Vec<u8>| {
        let mut put = app.client.put(url).body(body);
        for (name, value) in grant["headers"].as_object().unwrap() {
            put = put.header(name, value.as_str().unwrap());
        }
        put.send()
    };
    let first = put(bytes.clone()).await.unwrap();
    assert_eq!(first.status(), 200, "{:?}", first.text().await);
    // The URL creates the object once: a second PUT cannot swap its bytes.
    let mut other = jpeg(600, 900);
    other.resize(bytes.len(), 0);
    let again = put(other).await.unwrap();
    assert_eq!(again.status(), 412, "{:?}", again.text().await);

    let key = grant["object_key"].as_str().unwrap();
    eventually("the object is listed", || async { !app.json("/api/image").await.as_array().unwrap().is_empty() }).await;
    let listed = app.json("/api/image").await;
    assert_eq!((listed[0]["object_key"].as_str(), listed[0]["object_type"].as_str()), (Some(key), Some("image/jpeg")));
    let doc = app.finished(listed[0]["id"].as_i64().unwrap()).await;
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["thumbnails"].as_array().unwrap().len(), 3);
    let file = app.get(&format!("/api/image/file/{}", listed[0]["id"])).await;
    assert_eq!(file.bytes().await.unwrap(), bytes, "the first PUT's bytes");
    app.stop().await;
}

/// What reaches the bucket without passing imaged's checks is served as
/// what its bytes are: an SVG named `.svg` is not an image imaged knows,
/// so it goes out as bytes to save, never as a page that runs script.
#[actix_web::test]
async fn an_svg_put_straight_into_the_bucket_is_served_as_bytes_in_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = fixture_settings(dir.path()).await;
    notify_queue(&fixture, &[Event::S3ObjectCreated]).await;
    let app = spawn(s).await;
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let put = fixture.s3().put_object().bucket(&fixture.bucket).key("images/evil.svg").content_type("image/svg+xml");
    put.body(svg.as_bytes().to_vec().into()).send().await.unwrap();
    eventually("the object is listed", || async { !app.json("/api/image").await.as_array().unwrap().is_empty() }).await;
    let id = app.json("/api/image").await[0]["id"].as_i64().unwrap();
    assert_eq!(app.finished(id).await["status"], "failed");
    let file = app.get(&format!("/api/image/file/{id}")).await;
    assert_eq!(file.headers()["content-type"], "application/octet-stream");
    assert_eq!(file.headers()["content-security-policy"], "sandbox");
    app.stop().await;
}

/// A stop that comes while a long poll is under way lets the receive
/// finish and hands back what it brought: dropped, the request would have
/// taken the message and left it hidden for its whole visibility timeout.
#[actix_web::test]
async fn a_message_that_arrives_during_a_stopping_hosts_long_poll_is_handed_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_fixture, mut s) = fixture_settings(dir.path()).await;
    s.queue.visibility_timeout_secs = 120;
    let mut api = s.clone();
    api.queue.pollers = 0;
    let api = spawn(api).await;
    let mut stopping = s.clone();
    stopping.queue.wait_secs = 8;
    let stopping = spawn(stopping).await;
    // Its poller is in a long poll: the first returns empty after 8 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stopping.begin_shutdown();
    let id = api.upload_ok("late.jpg", jpeg(300, 200)).await;
    stopping.stop().await;

    let next = spawn(s).await;
    let started = std::time::Instant::now();
    loop {
        let status = next.json(&format!("/api/image/{id}/thumbnails")).await["status"].clone();
        if status == "done" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "still {status}: the message stayed hidden");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    next.stop().await;
    api.stop().await;
}

/// A delete's mark is taken only while the image exists, even when another
/// host's delete of it is under way (its row gone, not yet committed): the
/// mark then waits for that delete and finds nothing to mark. Took a second
/// delete message on MariaDB, where the mark's read of `images` did not wait.
#[actix_web::test]
async fn a_delete_mark_waits_for_a_delete_under_way_and_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, s) = fixture_settings(dir.path()).await;
    let backends = imaged::startup::Backends::build(&s).await.unwrap();
    let image = imaged::db::NewImage {
        object_key: "images/marked.jpg".into(),
        object_type: "binary/octet-stream".into(),
        last_modified: chrono::Utc::now().naive_utc(),
        object_size: 1,
    };
    let id = backends.meta.insert_image(&image, Some("image/jpeg")).await.unwrap();
    let now = chrono::Utc::now().naive_utc();
    assert!(backends.meta.mark_delete(id, now).await.unwrap(), "the first delete takes it");

    // The first delete removes the row and its mark, and has not committed.
    let mut first = MySqlConnection::connect(&fixture.database_url).await.unwrap();
    let schema = &fixture.schema;
    sqlx::query("BEGIN").execute(&mut first).await.unwrap();
    for sql in [
        format!("DELETE FROM `{schema}`.images WHERE id = ?"),
        format!("DELETE FROM `{schema}`.imaged_deletes WHERE image_id = ?"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut first).await.unwrap();
    }
    let meta = backends.meta.clone();
    let second = tokio::spawn(async move { meta.mark_delete(id, now - chrono::Duration::seconds(60)).await });
    // The second delete's mark is waiting on a lock the first holds.
    let mut watch = MySqlConnection::connect(&fixture.database_url).await.unwrap();
    let waiting = || {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'
             AND trx_query LIKE '%imaged_deletes%'",
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while waiting().fetch_one(&mut watch).await.unwrap() != 1 {
        assert!(std::time::Instant::now() < deadline, "the second mark never waited for the first delete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlx::query("COMMIT").execute(&mut first).await.unwrap();
    assert!(!second.await.unwrap().unwrap(), "no image, so no mark and no second delete message");
}

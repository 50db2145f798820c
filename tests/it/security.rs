//! What an attacker, or a client gone quiet, cannot do: skip a token by
//! spelling a path another way, hold the upload budget or a grant with a
//! stalled body, read a grant in the log, send many delete notices for one
//! image, or have an upload served as a type its bytes are not. Also: a
//! command run beside the daemon leaves its writes alone.

use crate::common;

use std::time::Duration;

use common::{Daemon, embedded_settings, faults::FlakyNotifier, jpeg, png, settings, spawn, spawn_on};
use imaged::startup::Backends;
use reqwest::{
    Method,
    multipart::{Form, Part},
};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The answer on `stream`: its head within 30 s, then whatever follows
/// until the server closes the connection (or 5 s more pass).
async fn answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    let head = async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), head).await.expect("an answer within 30 s");
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn port(app: &common::TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// `/api/image/42` → `/api/image/%34%32`.
fn encoded_digits(id: i64) -> String {
    id.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
}

#[actix_web::test]
async fn guarded_routes_need_a_token_however_the_path_is_spelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.http.api_tokens = "s3cret".to_owned().into();
    let app = spawn(s).await;
    let form = || Form::new().part("upfile", Part::bytes(jpeg(64, 48)).file_name("a.jpg"));
    // The scheme's name in any case (RFC 7235).
    let uploaded = app.client.post(app.url("/api/image")).header("authorization", "bearer s3cret").multipart(form());
    let uploaded = uploaded.send().await.unwrap();
    assert_eq!(uploaded.status(), 200);
    let id = uploaded.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    let query = "?filename=a.jpg&content_type=image/jpeg&size=1000";
    let (digits, bob) = (encoded_digits(id), "bob@example.com");
    let guarded: Vec<(Method, &str, String)> = vec![
        (Method::GET, "/image/upload_url", format!("/api/image/upload_url{query}")),
        (Method::GET, "/image/upload_url", format!("/api/image/upload%5Furl{query}")),
        (Method::GET, "/image/upload_url", format!("/api/imag%65/upload_url{query}")),
        (Method::GET, "/image/upload_url", format!("/api/image/upload_ur%6C{query}")),
        (Method::GET, "/image/upload_url", format!("/api/%69mage/upload_url{query}")),
        (Method::POST, "/image", "/api/image".into()),
        (Method::POST, "/image", "/api/imag%65".into()),
        (Method::POST, "/image", "/%61pi/image".into()),
        (Method::DELETE, "/image/{image_id}", format!("/api/image/{id}")),
        (Method::DELETE, "/image/{image_id}", format!("/api/image/{digits}")),
        (Method::DELETE, "/image/{image_id}", format!("/api/%69mage/{id}")),
        (Method::GET, "/notification", "/api/notification".into()),
        (Method::GET, "/notification", "/api/notificatio%6E".into()),
        (Method::POST, "/notification/{email_address}", format!("/api/notification/{bob}")),
        (Method::POST, "/notification/{email_address}", "/api/notification/bob%40example.com".into()),
        (Method::POST, "/notification/{email_address}", format!("/api/notificati%6Fn/{bob}")),
        (Method::DELETE, "/notification/{email_address}", format!("/api/notification/{bob}")),
        (Method::DELETE, "/notification/{email_address}", format!("/api/%6Eotification/{bob}")),
    ];
    for (method, _, path) in &guarded {
        for token in [None, Some("Bearer wrong"), Some("Basic s3cret")] {
            let mut request = app.client.request(method.clone(), app.url(path));
            if method == Method::POST && path.ends_with("image") {
                request = request.multipart(form());
            }
            if let Some(token) = token {
                request = request.header("authorization", token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with {token:?}");
        }
    }
    // Every route that changes something is among them (the direct upload
    // carries a grant instead).
    let doc = app.json("/api/openapi.json").await;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        let keys = operations.as_object().unwrap().keys();
        for method in keys.filter(|key| ["post", "put", "patch", "delete"].contains(&key.as_str())) {
            let method: Method = method.to_uppercase().parse().unwrap();
            let covered = guarded.iter().any(|(m, p, _)| *m == method && p == path);
            assert!(covered || path == "/image/direct/{grant}", "{method} {path} is not tried without a token");
        }
    }

    let granted = app.client.get(app.url(&format!("/api/image/upload%5Furl{query}"))).bearer_auth("s3cret");
    assert_eq!(granted.send().await.unwrap().status(), 200);
    let listed = app.client.get(app.url("/api/notification")).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(listed.status(), 200);
    for read in ["/api/image".to_owned(), format!("/api/image/{id}"), format!("/api/image/{id}/thumbnails")] {
        assert_eq!(app.get(&read).await.status(), 200, "{read} stays open");
    }
    app.stop().await;
}

/// The head and opening of a multipart upload of `upfile`.
fn multipart_head(content_length: usize) -> String {
    format!(
        "POST /api/image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: {content_length}\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"upfile\"; filename=\"a.jpg\"\r\n\r\n"
    )
}

#[actix_web::test]
async fn a_stalled_or_slow_body_is_cut_off_and_gives_back_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.queue.pollers = 0;
    (s.processing.max_upload_bytes, s.http.upload_bytes_in_flight) = (100_000, 100_000);
    (s.http.body_idle_secs, s.http.body_min_bytes_per_sec, s.http.body_deadline_secs) = (2, 4096, 60);
    let app = spawn(s).await;
    let port = port(&app);

    // A length above the limit is refused before any of the body is read.
    let mut huge = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    huge.write_all(multipart_head(10_000_000).as_bytes()).await.unwrap();
    let refused = answer(&mut huge).await;
    assert!(refused.starts_with("HTTP/1.1 413 Payload Too Large"), "{refused}");

    // 99.9 kB of the upload, then silence with the connection open: it
    // holds the whole budget until it is cut off.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stalled.write_all(multipart_head(150_000).as_bytes()).await.unwrap();
    stalled.write_all(&vec![0xAB; 99_900]).await.unwrap();
    let cut = answer(&mut stalled).await;
    assert!(cut.starts_with("HTTP/1.1 408 Request Timeout"), "{cut}");
    assert!(cut.contains("nothing for 2 s (http.body_idle_secs)"), "{cut}");
    assert_eq!(app.upload("after.jpg", jpeg(64, 48)).await.status(), 200, "the budget is free again");
    let spool = dir.path().join("uploads.incoming");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "the spool file went with the request");

    // 200 bytes every half second: alive, but far below 4096 bytes a second.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow.write_all(multipart_head(150_000).as_bytes()).await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let dribble = tokio::spawn(async move {
        for _ in 0..120 {
            if writer.write_all(&[0xAB; 200]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "still reading the slow body after 30 s: {answer}");
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout"), "{answer}");
    assert!(answer.contains("slower than 4096 bytes per second"), "{answer}");
    dribble.abort();
    app.stop().await;
}

/// A direct upload to imaged that stalls gives its grant back: the same URL
/// then takes the whole file.
#[actix_web::test]
async fn a_stalled_direct_upload_gives_its_grant_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = embedded_settings(dir.path());
    s.http.body_idle_secs = 2;
    let app = spawn(s).await;
    let bytes = png(200, 150);
    let query = format!("filename=a.png&content_type=image/png&size={}", bytes.len());
    let grant = app.json(&format!("/api/image/upload_url?{query}")).await;
    let url = grant["url"].as_str().unwrap();
    let path = url.strip_prefix(&app.address).unwrap();

    let mut stalled = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    let head =
        format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n", bytes.len());
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    let cut = answer(&mut stalled).await;
    assert!(cut.starts_with("HTTP/1.1 408 Request Timeout"), "{cut}");

    let put = app.client.put(url).header("content-type", "image/png").body(bytes).send().await.unwrap();
    assert_eq!(put.status(), 200, "{:?}", put.text().await);
    app.stop().await;
}

/// `imaged dlq list` opens every backend, the file store too; it must not
/// take away what the running daemon is writing.
#[actix_web::test]
async fn a_command_beside_the_daemon_leaves_its_writes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(embedded_settings(dir.path())).await;
    let incoming = dir.path().join("blobs.incoming");
    let folders: Vec<_> = std::fs::read_dir(&incoming).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 1, "one folder, the daemon's: {folders:?}");
    // A thumbnail between its write and its rename.
    let writing = folders[0].join("half-written");
    std::fs::write(&writing, b"half a thumbnail").unwrap();

    let dlq = common::imaged_command().env("IMAGED__DATA_DIR", dir.path()).args(["dlq", "list"]).output().unwrap();
    assert!(dlq.status.success(), "{}", String::from_utf8_lossy(&dlq.stderr));
    assert!(writing.is_file(), "the daemon's write in progress was removed");
    let id = app.upload_ok("after.jpg", jpeg(320, 240)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    app.stop().await;
}

/// A grant is a credential: the log names the route, never the path.
#[actix_web::test]
async fn a_direct_upload_grant_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &[("RUST_LOG".into(), "imaged=debug".into())]);
    let client = reqwest::Client::new();
    let grant: Value = client
        .get(daemon.url("/api/image/upload_url?filename=a.png&content_type=image/png&size=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = grant["url"].as_str().unwrap();
    let secret = url.rsplit('/').next().unwrap();
    let wrong_type = client.put(url).header("content-type", "image/jpeg").body(vec![0; 100]).send().await.unwrap();
    assert_eq!(wrong_type.status(), 400);
    let not_an_image = client.put(url).header("content-type", "image/png").body(vec![0; 100]).send().await.unwrap();
    assert_eq!(not_an_image.status(), 415);
    assert!(daemon.stop().success());
    let log = daemon.log();
    assert!(log.contains("/api/image/direct/{grant}"), "the requests are logged by their route:\n{log}");
    assert!(!log.contains(secret), "the grant is in the log:\n{log}");
}

#[actix_web::test]
async fn one_image_gets_one_delete_notice_however_often_it_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path()).await;
    let (mut backends, recorded) = common::once::wrap(Backends::build(&s).await.unwrap());
    let notifier = FlakyNotifier::new(0);
    backends.notifier = notifier.wrap(backends.notifier.clone());
    let app = spawn_on(s, backends).await;
    let id = app.upload_ok("once.jpg", jpeg(320, 240)).await;
    assert_eq!(app.finished(id).await["status"], "done");

    let path = format!("/api/image/{id}");
    let deletes = (0..8).map(|_| app.delete(&path));
    let statuses: Vec<u16> =
        futures_util::future::join_all(deletes).await.iter().map(|r| r.status().as_u16()).collect();
    // One request deletes it; those that find it being deleted wait for
    // that and answer as it did, those that come after find nothing.
    assert!(statuses.contains(&200) && statuses.iter().all(|s| [200, 404].contains(s)), "{statuses:?}");
    let messages = recorded.sent().into_iter().filter(|body| body.starts_with("event_type: delete")).count();
    assert_eq!(messages, 1, "one delete message: {:?}", recorded.sent());
    assert_eq!(app.delete(&path).await.status(), 404, "gone once deleted");
    app.drained().await;
    let deleted = || {
        let published = notifier.published.lock().unwrap();
        published.iter().filter(|text| text.starts_with("event_type: delete")).cloned().collect::<Vec<_>>()
    };
    assert_eq!(deleted().len(), 1, "{:?}", deleted());

    // The same message delivered again (SQS delivers at least once).
    app.backends.queue.send(&deleted()[0]).await.unwrap();
    app.drained().await;
    assert_eq!(deleted().len(), 1, "{:?}", deleted());
    app.stop().await;
}

#[actix_web::test]
async fn an_original_is_served_as_the_type_of_its_bytes_in_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    for (name, bytes, served) in [
        ("x.svg+xml", jpeg(64, 48), "image/jpeg"),
        ("page.html", png(64, 48), "image/png"),
        ("cloudx.jpg", jpeg(64, 48), "image/jpg"),
        ("shouty.PNG", png(64, 48), "image/PNG"),
    ] {
        let id = app.upload_ok(name, bytes.clone()).await;
        let file = app.get(&format!("/api/image/file/{id}")).await;
        assert_eq!(file.status(), 200);
        assert_eq!(file.headers()["content-type"], served, "{name}");
        assert_eq!(file.headers()["content-security-policy"], "sandbox", "{name}");
        assert_eq!(file.bytes().await.unwrap(), bytes, "{name}: served whole");
    }
    let id = app.upload_ok("t.jpg", jpeg(320, 240)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    let thumbnail = app.get(&format!("/api/image/{id}/thumbnail/128")).await;
    assert_eq!(thumbnail.headers()["content-security-policy"], "sandbox");
    app.stop().await;
}

/// The OpenAPI document names the token on exactly the operations that
/// ask for one (so Swagger UI offers it there), each with its 401; and
/// each operation's summary is one line.
#[actix_web::test]
async fn the_openapi_document_names_the_token_where_the_api_asks_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.http.api_tokens = "s3cret".to_owned().into();
    let app = spawn(s).await;
    let doc = app.json("/api/openapi.json").await;
    assert_eq!(doc["components"]["securitySchemes"]["bearer_token"]["scheme"], "bearer", "{}", doc["components"]);

    let mut guarded = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let summary = operation["summary"].as_str().unwrap_or_default();
            assert!(!summary.contains('\n') && summary.len() <= 100, "{method} {path}: summary {summary:?}");
            let concrete = path
                .replace("{image_id}", "1")
                .replace("{size}", "128")
                .replace("{email_address}", "a@example.com")
                .replace("{grant}", "x");
            let url = match operation["servers"][0]["url"].as_str() {
                Some("/") => app.url(&concrete),
                _ => app.url(&format!("/api{concrete}")),
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = app.client.request(method.clone(), url).send().await.unwrap().status();
            let named = operation["security"][0]["bearer_token"].is_array();
            assert_eq!(status == 401, named, "{method} {path}: {status}, token named in the document: {named}");
            assert_eq!(operation["responses"]["401"].is_object(), named, "{method} {path}");
            guarded += usize::from(named);
        }
    }
    assert_eq!(guarded, 6, "upload, upload_url, delete, and the three notification operations");
    app.stop().await;
}

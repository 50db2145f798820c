//! The CloudX image API, as its users' test suites check it.

use crate::common;

use common::{jpeg, png, settings, spawn};
use serde_json::Value;

#[actix_web::test]
async fn upload_then_metadata_download_thumbnails_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let original = jpeg(1600, 1200);
    let id = app.upload_ok("cat.jpg", original.clone()).await;

    let meta = app.json(&format!("/api/image/{id}")).await;
    let keys: Vec<_> = meta.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "last_modified", "object_key", "object_size", "object_type"]);
    assert_eq!(meta["id"], id);
    assert_eq!(meta["object_size"], original.len());
    assert_eq!(meta["object_type"], "binary/octet-stream");
    let key = meta["object_key"].as_str().unwrap();
    let name = key.strip_prefix("images/").expect("under images/");
    assert!(name.ends_with("-cat.jpg") && name.len() == 36 + "-cat.jpg".len(), "{key}");
    let stamp = meta["last_modified"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ").is_ok(), "{stamp}");

    let list = app.json("/api/image").await;
    assert_eq!(list, serde_json::json!([meta]));

    let file = app.get(&format!("/api/image/file/{id}")).await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/jpg");
    assert_eq!(file.headers()["content-disposition"], format!("attachment; filename={name}").as_str());
    assert_eq!(file.headers()["cache-control"], "no-cache");
    assert_eq!(file.headers()["content-length"], original.len().to_string().as_str(), "streamed with its length");
    assert_eq!(file.bytes().await.unwrap(), original, "the identical bytes");

    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["content_type"], "image/jpeg");
    assert_eq!(doc["error"], Value::Null);
    let thumbs = doc["thumbnails"].as_array().unwrap();
    let dims: Vec<_> = thumbs
        .iter()
        .map(|t| (t["size"].as_u64().unwrap(), t["width"].as_u64().unwrap(), t["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(dims, [(128, 128, 96), (256, 256, 192), (1024, 1024, 768)]);
    for t in thumbs {
        let response = app.get(&format!("/api/image/{id}/thumbnail/{}", t["size"])).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, t["object_size"].as_u64().unwrap());
        let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert_eq!(
            (u64::from(decoded.width()), u64::from(decoded.height())),
            (t["width"].as_u64().unwrap(), t["height"].as_u64().unwrap())
        );
    }
    assert_eq!(app.get(&format!("/api/image/{id}/thumbnail/999")).await.status(), 404);

    let deleted = app.delete(&format!("/api/image/{id}")).await;
    assert_eq!(deleted.status(), 200);
    let gone = app.get(&format!("/api/image/{id}")).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap(), "Image not found!");
    let file = app.get(&format!("/api/image/file/{id}")).await;
    assert_eq!(file.status(), 404);
    assert_eq!(file.headers()["content-type"], "text/plain; charset=utf-8", "CloudX's text, as text");
    assert_eq!(file.text().await.unwrap(), "Image is not found!");
    assert_eq!(app.get(&format!("/api/image/{id}/thumbnails")).await.status(), 404);
    assert_eq!(app.delete(&format!("/api/image/{id}")).await.status(), 404);
    assert_eq!(app.json("/api/image").await, serde_json::json!([]));
    assert_eq!(app.blob_keys().await, Vec::<String>::new(), "original and thumbnails removed");
    app.stop().await;
}

#[actix_web::test]
async fn small_images_are_not_upscaled_and_png_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let id = app.upload_ok("icon.png", png(200, 100)).await;
    let doc = app.finished(id).await;
    assert_eq!(doc["content_type"], "image/png");
    let dims: Vec<_> = doc["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["width"].as_u64().unwrap(), t["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(dims, [(128, 64), (200, 100), (200, 100)]);
    let file = app.get(&format!("/api/image/file/{id}")).await;
    assert_eq!(file.headers()["content-type"], "image/png");
    app.stop().await;
}

#[actix_web::test]
async fn bad_uploads_get_a_reason_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.processing.max_upload_bytes = 100_000;
    let app = spawn(s).await;

    let text = app.upload("notes.jpg", b"this is not an image at all".to_vec()).await;
    assert_eq!(text.status(), 415);
    let body: Value = text.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not a supported image"), "{body}");

    let empty = app.upload("empty.jpg", Vec::new()).await;
    assert_eq!(empty.status(), 400);

    let form = reqwest::multipart::Form::new().text("other", "x");
    let missing = app.client.post(app.url("/api/image")).multipart(form).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.headers()["content-type"], "application/problem+json", "CloudX's answer");
    let body: Value = missing.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("no field named upfile"), "{body}");
    assert_eq!((&body["title"], &body["status"]), (&serde_json::json!("Bad Request"), &serde_json::json!(400)));

    let not_multipart = app.client.post(app.url("/api/image")).body("upfile=x").send().await.unwrap();
    assert_eq!(not_multipart.status(), 400);
    let no_body = app.client.post(app.url("/api/image")).send().await.unwrap();
    assert_eq!(no_body.status(), 400);

    let mut big = jpeg(64, 64);
    big.resize(200_000, 0);
    let big = app.upload("big.jpg", big).await;
    assert_eq!(big.status(), 413);

    assert_eq!(app.json("/api/image").await, serde_json::json!([]));
    assert_eq!(app.backends.queue.stats().await.unwrap().depth, 0, "nothing queued");
    assert_eq!(app.blob_keys().await, Vec::<String>::new(), "nothing stored");
    app.stop().await;
}

/// A Windows browser may send its whole path, backslashes bare: the key
/// keeps the file's own name.
#[actix_web::test]
async fn a_windows_path_as_file_name_keeps_its_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let mut body =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"upfile\"; filename=\"C:\\Users\\bob\\cat.jpg\"\r\n\
        Content-Type: image/jpeg\r\n\r\n"
            .to_vec();
    body.extend(jpeg(64, 64));
    body.extend(b"\r\n--XyZ--\r\n");
    let response = app
        .client
        .post(app.url("/api/image"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let key = app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned();
    assert!(key.ends_with("-cat.jpg") && !key.contains("Users"), "{key}");
    app.stop().await;
}

#[actix_web::test]
async fn ids_that_are_not_integers_and_unknown_routes_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    for id in ["abc", "-1", "1.5", "99999999999999999999999"] {
        for path in [format!("/api/image/{id}"), format!("/api/image/file/{id}"), format!("/api/image/{id}/thumbnails")]
        {
            assert_eq!(app.get(&path).await.status(), 404, "GET {path}");
        }
        assert_eq!(app.delete(&format!("/api/image/{id}")).await.status(), 404);
    }
    for path in ["/api/nothing", "/api/images/1", "/nothing", "/api/image/1/thumbnail/abc"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    app.stop().await;
}

#[actix_web::test]
async fn swagger_ui_openapi_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let redirect = app.get("/api/ui").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/api/ui/");
    let ui = app.get("/api/ui/").await;
    assert_eq!(ui.status(), 200);
    assert!(ui.headers()["content-type"].to_str().unwrap().contains("html"));
    assert!(ui.text().await.unwrap().contains("swagger-ui"));
    let script = app.get("/api/ui/swagger-initializer.js").await;
    assert_eq!(script.status(), 200, "UI assets are served from the binary");

    for doc in ["/api/swagger.json", "/api/openapi.json"] {
        let spec = app.json(doc).await;
        let paths = spec["paths"].as_object().unwrap();
        for path in [
            "/image",
            "/image/{image_id}",
            "/image/file/{image_id}",
            "/image/{image_id}/thumbnails",
            "/image/{image_id}/thumbnail/{size}",
            "/notification",
            "/notification/{email_address}",
            "/stats",
            "/healthz",
            "/readyz",
        ] {
            assert!(paths.contains_key(path), "{doc} lacks {path}");
        }
        assert_eq!(spec["paths"]["/healthz"]["get"]["servers"][0]["url"], "/", "{}", spec["paths"]["/healthz"]);
        assert_eq!(spec["servers"][0]["url"], "/api");
    }

    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    // What every background loop is doing, by name.
    let workers: Vec<&str> = ready["workers"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    for name in ["queue poller 0", "reconciler", "jobs", "CPU pool"] {
        assert!(workers.contains(&name), "{name} not in {ready}");
    }
    assert!(ready["workers"].as_array().unwrap().iter().all(|w| w["stuck"] == false), "{ready}");

    // Every answer carries a request id: a new one, or the client's own
    // when it is a plain token.
    let id_of = |r: &reqwest::Response| r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let (a, b) = (id_of(&app.get("/healthz").await), id_of(&app.get("/api/image/999999").await));
    assert!(a.as_ref().is_some_and(|id| id.len() == 32) && a != b, "{a:?} {b:?}");
    let given = app.client.get(app.url("/healthz")).header("X-Request-Id", "lb-7f3a.1").send().await.unwrap();
    assert_eq!(id_of(&given).as_deref(), Some("lb-7f3a.1"));
    let odd = app.client.get(app.url("/healthz")).header("X-Request-Id", "a b <c>").send().await.unwrap();
    assert!(id_of(&odd).is_some_and(|id| id.len() == 32), "an odd id is replaced");

    let id = app.upload_ok("m.jpg", jpeg(300, 200)).await;
    app.finished(id).await;
    let metrics =
        app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap().text().await.unwrap();
    for name in [
        "imaged_jobs_total",
        "imaged_job_stage_seconds",
        "imaged_http_requests_total",
        "imaged_queue_messages_total",
        "imaged_queue_depth ",
        "imaged_queue_dead_letters ",
        "imaged_queue_up ",
        "imaged_build_info{version=",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_cpu_seconds_total ",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
    assert!(metrics.contains("route=\"/api/image\""), "HTTP requests labelled by route pattern");
    app.stop().await;
}

#[actix_web::test]
async fn concurrent_uploads_and_deletes_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    for _round in 0..3 {
        let names: Vec<String> = (0..12).map(|i| format!("p{i}.png")).collect();
        let uploads = names.iter().zip(40..).map(|(name, width)| app.upload(name, png(width, 30)));
        let mut ids = Vec::new();
        for response in futures_util::future::join_all(uploads).await {
            assert_eq!(response.status(), 200, "{:?}", response.text().await);
            ids.push(response.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
        }
        // Delete while their jobs run: API writes and job writes interleave.
        let paths: Vec<String> = ids.iter().map(|id| format!("/api/image/{id}")).collect();
        let deletes = paths.iter().map(|path| app.delete(path));
        for response in futures_util::future::join_all(deletes).await {
            assert_eq!(response.status(), 200, "{:?}", response.text().await);
        }
    }
    assert_eq!(app.json("/api/image").await, serde_json::json!([]));
    // Jobs that ran into a delete leave no state, rows or objects behind.
    app.drained().await;
    let none = serde_json::json!({"done": 0, "failed": 0, "pending": 0, "processing": 0});
    assert_eq!(app.json("/api/stats").await["jobs"], none, "no phantom jobs");
    assert_eq!(app.blob_keys().await, Vec::<String>::new());
    // Nor folders: an image's folder of thumbnails goes with its last one.
    let folders = walk_folders(&dir.path().join("blobs"));
    assert!(folders.is_empty(), "folders left in the file store: {folders:?}");
    app.stop().await;
}

/// The folders under `dir`, at any depth (none where `dir` is missing, as
/// on S3).
fn walk_folders(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let folders = entries.map(|e| e.unwrap().path()).filter(|p| p.is_dir());
    folders.flat_map(|p| std::iter::once(p.clone()).chain(walk_folders(&p))).collect()
}

#[actix_web::test]
async fn stats_count_bytes_types_and_processing_times() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let empty = app.json("/api/stats").await;
    assert_eq!(empty["images"]["count"], 0, "{empty}");
    assert_eq!(empty["images"]["size"], Value::Null, "{empty}");
    assert_eq!((empty["processing"]["jobs"].as_u64(), &empty["processing"]["p50_ms"]), (Some(0), &Value::Null));

    let (big, small, cut) = (jpeg(1600, 1200), png(300, 200), jpeg(640, 480)[..600].to_vec());
    let mut sizes = Vec::new();
    for (name, bytes) in [("big.jpg", &big), ("small.png", &small), ("cut.jpg", &cut)] {
        let id = app.upload_ok(name, bytes.clone()).await;
        app.finished(id).await;
        sizes.push(bytes.len() as i64);
    }
    let stats = app.json("/api/stats").await;
    assert_eq!(stats["jobs"], serde_json::json!({"done": 2, "failed": 1, "pending": 0, "processing": 0}), "{stats}");
    let images = &stats["images"];
    assert_eq!(images["count"], 3, "{stats}");
    assert_eq!(images["total_bytes"], sizes.iter().sum::<i64>(), "{stats}");
    assert_eq!(images["by_type"], serde_json::json!({"image/jpeg": 2, "image/png": 1}), "{stats}");
    let min = *sizes.iter().min().unwrap();
    let max = *sizes.iter().max().unwrap();
    let avg = sizes.iter().sum::<i64>() as f64 / 3.0;
    assert_eq!((images["size"]["min"].as_i64(), images["size"]["max"].as_i64()), (Some(min), Some(max)), "{stats}");
    assert!((images["size"]["avg"].as_f64().unwrap() - avg).abs() < 0.01, "{stats}");
    let mut thumbnail_bytes = 0;
    for image in app.json("/api/image").await.as_array().unwrap() {
        let doc = app.json(&format!("/api/image/{}/thumbnails", image["id"])).await;
        for thumbnail in doc["thumbnails"].as_array().unwrap() {
            let formats = thumbnail["formats"].as_array().unwrap();
            assert_eq!(formats.len(), 2, "JPEG and WebP: {doc}");
            thumbnail_bytes += formats.iter().map(|f| f["object_size"].as_i64().unwrap()).sum::<i64>();
        }
    }
    assert!(thumbnail_bytes > 0);
    assert_eq!(images["thumbnail_bytes"], thumbnail_bytes, "{stats}");

    // Two jobs done within the window: their times, ordered.
    let processing = &stats["processing"];
    assert_eq!((processing["window_secs"].as_u64(), processing["jobs"].as_u64()), (Some(3600), Some(2)), "{stats}");
    let (p50, p95, worst) = (
        processing["p50_ms"].as_i64().unwrap(),
        processing["p95_ms"].as_i64().unwrap(),
        processing["max_ms"].as_i64().unwrap(),
    );
    assert!(0 <= p50 && p50 <= p95 && p95 == worst, "{stats}");
    app.stop().await;
}

#[actix_web::test]
async fn cors_headers_only_for_the_configured_origins() {
    let origin = "https://gallery.example";
    let preflight = |app: &common::TestApp| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/image"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed =
        |r: &reqwest::Response| r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());

    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let get = app.client.get(app.url("/api/image")).header("Origin", origin).send().await.unwrap();
    assert_eq!((get.status().as_u16(), allowed(&get)), (200, None), "off by default");
    assert_eq!(allowed(&preflight(&app).await.unwrap()), None);
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.http.cors_origins = vec![origin.to_owned(), "http://localhost:3000".into()];
    let app = spawn(s).await;
    let get = app.client.get(app.url("/api/image")).header("Origin", origin).send().await.unwrap();
    assert_eq!((get.status().as_u16(), allowed(&get)), (200, Some(origin.to_owned())));
    let exposed = get.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-request-id") && exposed.contains("retry-after"), "{exposed}");
    let pre = preflight(&app).await.unwrap();
    assert_eq!((pre.status().as_u16(), allowed(&pre)), (200, Some(origin.to_owned())));
    let methods = pre.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST") && methods.contains("DELETE"), "{methods}");
    let other = app.client.get(app.url("/api/image")).header("Origin", "https://evil.example").send().await.unwrap();
    assert_eq!(allowed(&other), None, "an origin not listed gets no grant");
    app.stop().await;
}

/// `upload_url` on the file store: a signed URL to imaged itself, good for
/// one PUT of the granted type and size.
#[actix_web::test]
async fn an_upload_url_takes_one_put_of_the_granted_type_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(common::embedded_settings(dir.path())).await;
    let bytes = jpeg(800, 600);
    let ask = |query: String| app.client.get(app.url(&format!("/api/image/upload_url?{query}"))).send();
    let query = format!("filename=holiday%20cat.jpg&content_type=image/jpeg&size={}", bytes.len());
    let grant: Value = ask(query).await.unwrap().json().await.unwrap();
    assert_eq!((grant["method"].as_str(), grant["direct_to_store"].as_bool()), (Some("PUT"), Some(false)), "{grant}");
    assert_eq!(grant["headers"]["content-type"], "image/jpeg", "{grant}");
    let url = grant["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/api/image/direct/", app.address)), "{url}");
    let key = grant["object_key"].as_str().unwrap();
    assert!(key.starts_with("images/") && key.ends_with("-holiday cat.jpg"), "{key}");
    let put = |body: Vec<u8>, content_type: &'static str| {
        app.client.put(url).header("Content-Type", content_type).body(body).send()
    };

    // Refused without storing anything, and the grant stays good.
    assert_eq!(put(bytes.clone(), "image/png").await.unwrap().status(), 400, "another type");
    assert_eq!(put(bytes[..100].to_vec(), "image/jpeg").await.unwrap().status(), 400, "another size");
    assert_eq!(app.json("/api/image").await, serde_json::json!([]));

    let stored = put(bytes.clone(), "image/jpeg").await.unwrap();
    assert_eq!(stored.status(), 200);
    let id = stored.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(app.finished(id).await["status"], "done");
    let meta = app.json(&format!("/api/image/{id}")).await;
    assert_eq!((meta["object_key"].as_str(), meta["object_size"].as_u64()), (Some(key), Some(bytes.len() as u64)));
    assert_eq!(app.get(&format!("/api/image/file/{id}")).await.bytes().await.unwrap().to_vec(), bytes);

    let again = put(bytes.clone(), "image/jpeg").await.unwrap();
    assert_eq!(again.status(), 403, "one upload per URL");
    assert!(again.text().await.unwrap().contains("used already"));
    let forged = url.replace("/direct/", "/direct/x");
    let forged = app.client.put(forged).header("Content-Type", "image/jpeg").body(bytes.clone()).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.json("/api/image").await.as_array().unwrap().len(), 1);

    // What cannot be granted.
    assert_eq!(ask("filename=a.html&content_type=text/html&size=10".into()).await.unwrap().status(), 415);
    assert_eq!(ask("filename=a.jpg&content_type=image/jpeg&size=0".into()).await.unwrap().status(), 400);
    assert_eq!(ask("filename=a.jpg&content_type=image/jpeg&size=999999999999".into()).await.unwrap().status(), 413);
    let missing = ask("filename=a.jpg".into()).await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

#[actix_web::test]
async fn an_expired_upload_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::embedded_settings(dir.path());
    s.http.upload_url_expiry_secs = 1;
    let app = spawn(s).await;
    let bytes = png(40, 30);
    let grant =
        app.json(&format!("/api/image/upload_url?filename=a.png&content_type=image/png&size={}", bytes.len())).await;
    // Grants expire on whole seconds: after two, this one has.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let put = app.client.put(grant["url"].as_str().unwrap()).header("Content-Type", "image/png").body(bytes);
    let refused = put.send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("expired"));
    assert_eq!(app.json("/api/image").await, serde_json::json!([]));
    app.stop().await;
}

/// imaged's own list: pages by id, newest first, each image with its job
/// and the thumbnail a card shows; a status filter; bad parameters refused.
#[actix_web::test]
async fn the_image_list_comes_in_pages_newest_first_with_each_cards_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = app.upload_ok(&format!("p{i}.jpg"), jpeg(400 + i, 300)).await;
        ids.push(id);
    }
    let cut = app.upload_ok("cut.jpg", jpeg(640, 480)[..600].to_vec()).await;
    ids.push(cut);
    for &id in &ids {
        app.finished(id).await;
    }
    ids.reverse();

    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/images?limit=4&cursor={c}"),
            None => "/api/images?limit=4".to_owned(),
        };
        let page = app.json(&path).await;
        pages += 1;
        for item in page["images"].as_array().unwrap() {
            let id = item["id"].as_i64().unwrap();
            seen.push(id);
            let doc = app.json(&format!("/api/image/{id}/thumbnails")).await;
            assert_eq!(item["status"], doc["status"], "{item}");
            assert_eq!(item["object_key"], app.json(&format!("/api/image/{id}")).await["object_key"]);
            if id == cut {
                assert!(item["error"].is_string() && item["error"] == doc["error"], "{item}");
                assert_eq!(item["thumbnail"], Value::Null, "{item}");
                continue;
            }
            let smallest = &doc["thumbnails"][0];
            let thumbnail = &item["thumbnail"];
            assert_eq!((&thumbnail["width"], &thumbnail["height"]), (&smallest["width"], &smallest["height"]));
            assert_eq!(thumbnail["url"], smallest["url"], "the smallest, versioned: {item}");
            let image = app.get(thumbnail["url"].as_str().unwrap()).await;
            assert_eq!(image.status(), 200);
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every image once, newest first");
    assert_eq!(pages, 2, "6 images, 4 a page");

    let failed = app.json("/api/images?status=failed").await;
    let failed: Vec<_> = failed["images"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(failed, [cut]);
    let done = app.json("/api/images?status=done&limit=200").await;
    assert_eq!(done["images"].as_array().unwrap().len(), 5, "{done}");
    assert_eq!(done["next"], Value::Null);
    // A card of another size: the smallest at least that large, else the largest.
    let first = done["images"][0]["id"].as_i64().unwrap();
    let doc = app.json(&format!("/api/image/{first}/thumbnails")).await;
    for (asked, index) in [(200, 1), (256, 1), (257, 2), (5000, 2)] {
        let page = app.json(&format!("/api/images?status=done&limit=1&thumbnail={asked}")).await;
        let (card, made) = (&page["images"][0]["thumbnail"], &doc["thumbnails"][index]);
        assert_eq!((&card["url"], &card["width"]), (&made["url"], &made["width"]), "thumbnail={asked}: {page}");
    }
    for bad in ["limit=0", "limit=201", "cursor=abc", "status=finished", "limit=-1", "thumbnail=big"] {
        let response = app.get(&format!("/api/images?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    app.stop().await;
}

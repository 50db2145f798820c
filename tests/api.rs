//! The CloudX image API, as its users' test suites check it.

mod common;

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
    let body: Value = missing.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("KeyError: 'upfile'"), "{body}");

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
    assert_eq!(app.json("/readyz").await["status"], "ready");

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
    assert_eq!(app.json("/api/stats").await["jobs"], serde_json::json!({}), "no phantom jobs");
    assert_eq!(app.blob_keys().await, Vec::<String>::new());
    app.stop().await;
}

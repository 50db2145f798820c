//! Downloads a cache or a CDN can keep: strong validators, conditional
//! requests, single ranges and HEAD on originals and thumbnails; thumbnails
//! cached for good at a URL that changes when their bytes do.

use crate::common;

use common::{TestApp, eventually, jpeg, settings, spawn};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

async fn request(app: &TestApp, method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.request(method, app.url(path));
    for &(name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

fn header(response: &Response, name: &str) -> String {
    let value = response.headers().get(name).unwrap_or_else(|| panic!("no {name}: {:?}", response.headers()));
    value.to_str().unwrap().to_owned()
}

#[actix_web::test]
async fn an_original_answers_head_conditional_requests_and_one_range() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let original = jpeg(640, 480);
    let len = original.len();
    let id = app.upload_ok("cat.jpg", original.clone()).await;
    let path = format!("/api/image/file/{id}");

    let whole = request(&app, Method::GET, &path, &[]).await;
    assert_eq!(whole.status(), 200);
    let etag = header(&whole, "etag");
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "strong: {etag}");
    let modified = header(&whole, "last-modified");
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    assert_eq!(whole.bytes().await.unwrap(), original);

    let head = request(&app, Method::HEAD, &path, &[]).await;
    assert_eq!(head.status(), 200, "HEAD is answered");
    assert_eq!(header(&head, "content-length"), len.to_string());
    assert_eq!(header(&head, "content-type"), "image/jpg", "the GET's type, sniffed as for a GET");
    assert_eq!(
        header(&head, "content-disposition"),
        header(&request(&app, Method::GET, &path, &[]).await, "content-disposition")
    );
    assert_eq!((header(&head, "etag"), header(&head, "last-modified")), (etag.clone(), modified.clone()));
    assert!(head.bytes().await.unwrap().is_empty());

    for current in [("if-none-match", etag.as_str()), ("if-modified-since", modified.as_str())] {
        let again = request(&app, Method::GET, &path, &[current]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{current:?}");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let stale = request(&app, Method::GET, &path, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap(), original);
    assert_eq!(request(&app, Method::GET, &path, &[("if-match", "\"other\"")]).await.status(), 412);

    let part = request(&app, Method::GET, &path, &[("range", "bytes=100-199"), ("if-range", &etag)]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&part, "content-range"), format!("bytes 100-199/{len}"));
    assert_eq!(header(&part, "content-type"), "image/jpg", "the whole file's type");
    assert_eq!(part.bytes().await.unwrap(), original[100..200]);
    let tail = request(&app, Method::GET, &path, &[("range", "bytes=-10")]).await;
    assert_eq!(header(&tail, "content-range"), format!("bytes {}-{}/{len}", len - 10, len - 1));
    assert_eq!(tail.bytes().await.unwrap(), original[len - 10..]);
    let outside = request(&app, Method::GET, &path, &[("range", &format!("bytes={len}-"))]).await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&outside, "content-range"), format!("bytes */{len}"));
    let replaced = request(&app, Method::GET, &path, &[("range", "bytes=0-9"), ("if-range", "\"other\"")]).await;
    assert_eq!(replaced.status(), 200, "a range of other bytes is not joined to the client's");
    assert_eq!(replaced.bytes().await.unwrap(), original);

    // CloudX's 404, to HEAD too.
    assert_eq!(request(&app, Method::HEAD, "/api/image/file/999999", &[]).await.status(), 404);
    app.stop().await;
}

/// The URL the thumbnails document gives for `size`.
async fn thumbnail_url(app: &TestApp, id: i64, size: i64) -> String {
    let doc = app.json(&format!("/api/image/{id}/thumbnails")).await;
    let thumbnails = doc["thumbnails"].as_array().unwrap();
    let thumb = thumbnails.iter().find(|t| t["size"] == size).unwrap_or_else(|| panic!("no {size}: {doc}"));
    thumb["url"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_thumbnail_is_kept_for_good_at_the_documents_url_which_new_bytes_change() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let id = app.upload_ok("dog.jpg", jpeg(800, 600)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    let url = thumbnail_url(&app, id, 256).await;
    let plain = format!("/api/image/{id}/thumbnail/256");
    assert!(url.starts_with(&format!("{plain}?v=")), "{url}");

    let kept = request(&app, Method::GET, &url, &[]).await;
    assert_eq!(kept.status(), 200);
    assert_eq!(header(&kept, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header(&kept, "content-type"), "image/jpeg");
    let etag = header(&kept, "etag");
    let bytes = kept.bytes().await.unwrap();
    for other in [plain.clone(), format!("{plain}?v=0123456789abcdef")] {
        let checked = request(&app, Method::GET, &other, &[]).await;
        assert_eq!(header(&checked, "cache-control"), "public, no-cache", "{other}");
        assert_eq!(checked.bytes().await.unwrap(), bytes);
    }
    let head = request(&app, Method::HEAD, &url, &[]).await;
    assert_eq!((head.status(), header(&head, "content-length")), (StatusCode::OK, bytes.len().to_string()));
    let again = request(&app, Method::GET, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "cache-control"), "public, max-age=31536000, immutable");
    let part = request(&app, Method::GET, &url, &[("range", "bytes=0-1")]).await;
    assert_eq!(part.bytes().await.unwrap(), bytes[..2], "a JPEG's SOI");

    // New bytes under the original's key: the thumbnails are made again,
    // and the document names them by a new URL, so no cache serves the old.
    let key = app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned();
    app.backends.blobs.put(&key, jpeg(300, 900).into(), "binary/octet-stream").await.unwrap();
    let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"object": {"key": key}}}]});
    app.backends.queue.send(&event.to_string()).await.unwrap();
    let remade = || async {
        let now = thumbnail_url(&app, id, 256).await;
        (now.contains("?v=") && now != url).then_some(now)
    };
    eventually("the thumbnails follow the new bytes", || async { remade().await.is_some() }).await;
    let new_url = remade().await.unwrap();
    let fresh = request(&app, Method::GET, &new_url, &[("if-none-match", &etag)]).await;
    assert_eq!(fresh.status(), 200, "the old validator no longer matches");
    assert_eq!(header(&fresh, "cache-control"), "public, max-age=31536000, immutable");
    assert_ne!(fresh.bytes().await.unwrap(), bytes);
    let old = request(&app, Method::GET, &url, &[]).await;
    assert_eq!(header(&old, "cache-control"), "public, no-cache", "the old URL is not kept for good any more");
    app.stop().await;
}

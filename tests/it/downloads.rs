//! Downloads a cache or a CDN can keep: strong validators, conditional
//! requests, single ranges and HEAD on originals and thumbnails; thumbnails
//! cached for good at a URL that changes when their bytes do.

use crate::common;

use common::{TestApp, eventually, jpeg, settings, spawn};
use imaged::imaging::{self, Format};
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

/// What a browser, curl and a client naming formats get from the thumbnail
/// URL the document gives, and what `?format=` forces.
#[actix_web::test]
async fn a_thumbnail_comes_in_the_format_the_request_accepts_best() {
    const CHROMIUM: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let id = app.upload_ok("negotiated.jpg", jpeg(640, 480)).await;
    let doc = app.finished(id).await;
    let thumbnail = &doc["thumbnails"][1];
    let formats = thumbnail["formats"].as_array().unwrap();
    let listed: Vec<_> =
        formats.iter().map(|f| (f["format"].as_str().unwrap(), f["content_type"].as_str().unwrap())).collect();
    assert_eq!(listed, [("jpeg", "image/jpeg"), ("webp", "image/webp")], "{doc}");
    let path = thumbnail["url"].as_str().unwrap().to_owned();

    for (accept, served) in [
        (Some(CHROMIUM), "webp"),
        (Some("image/webp,*/*"), "webp"),
        (Some("*/*"), "jpeg"),
        (None, "jpeg"),
        (Some("image/webp;q=0.5, image/jpeg"), "jpeg"),
        (Some("image/png"), "jpeg"),
    ] {
        let mut request = app.client.get(app.url(&path));
        request = match accept {
            Some(accept) => request.header("accept", accept),
            // reqwest sends curl's `*/*` unless told otherwise.
            None => request.header("accept", ""),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(header(&response, "vary"), "Accept", "{accept:?}");
        assert_eq!(header(&response, "content-type"), format!("image/{served}"), "{accept:?}");
        let listed = formats.iter().find(|f| f["format"] == served).unwrap();
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.len() as i64, listed["object_size"].as_i64().unwrap(), "{accept:?}");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            (i64::from(decoded.width()), i64::from(decoded.height())),
            (thumbnail["width"].as_i64().unwrap(), thumbnail["height"].as_i64().unwrap())
        );
    }

    // ?format= wins over Accept, and does not vary with it.
    for f in formats {
        let forced = f["url"].as_str().unwrap();
        let response = request(&app, Method::GET, forced, &[("accept", "image/png")]).await;
        assert_eq!(response.status(), 200, "{forced}");
        assert_eq!(header(&response, "content-type"), f["content_type"].as_str().unwrap());
        assert_eq!(header(&response, "cache-control"), "public, max-age=31536000, immutable", "{forced}");
        assert!(response.headers().get("vary").is_none(), "{forced}");
    }
    let response = request(&app, Method::HEAD, &format!("{path}&format=webp"), &[]).await;
    assert_eq!(header(&response, "content-type"), "image/webp");
    let unknown = request(&app, Method::GET, &format!("{path}&format=gif"), &[]).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&unknown, "content-type"), "application/problem+json");
    let reason: serde_json::Value = unknown.json().await.unwrap();
    assert!(reason["detail"].as_str().unwrap().contains("\"gif\" is not a thumbnail format"), "{reason}");
    app.stop().await;
}

/// With AVIF made too (`processing.formats` asks for it), a client that
/// lists it first (Chromium, Firefox) gets it; one that prefers WebP, or
/// takes anything, gets what it did before.
#[actix_web::test]
async fn avif_where_it_is_made_goes_to_clients_that_list_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.processing.formats = vec![Format::Jpeg, Format::Webp, Format::Avif];
    let app = spawn(s).await;
    let id = app.upload_ok("three.jpg", jpeg(640, 480)).await;
    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "done", "{doc}");
    let thumbnail = &doc["thumbnails"][1];
    let formats = thumbnail["formats"].as_array().unwrap();
    let listed: Vec<_> = formats.iter().map(|f| f["format"].as_str().unwrap()).collect();
    assert_eq!(listed, ["jpeg", "webp", "avif"], "{doc}");
    let path = thumbnail["url"].as_str().unwrap();
    for (accept, served) in [
        ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "avif"),
        ("image/avif,image/webp,*/*", "avif"),
        ("image/webp,image/avif,*/*", "webp"),
        ("image/webp,*/*", "webp"),
        ("image/avif;q=0.5,image/jpeg", "jpeg"),
        ("*/*", "jpeg"),
    ] {
        let response = request(&app, Method::GET, path, &[("accept", accept)]).await;
        assert_eq!(header(&response, "content-type"), format!("image/{served}"), "{accept}");
        assert_eq!(header(&response, "vary"), "Accept", "{accept}");
        let bytes = response.bytes().await.unwrap();
        let listed = formats.iter().find(|f| f["format"] == served).unwrap();
        assert_eq!(bytes.len() as i64, listed["object_size"].as_i64().unwrap(), "{accept}");
        let plan = imaging::plan(&bytes, &[1024], 1 << 24).unwrap();
        let (w, h) = (thumbnail["width"].as_u64().unwrap(), thumbnail["height"].as_u64().unwrap());
        assert_eq!((u64::from(plan.probe.width), u64::from(plan.probe.height)), (w, h), "{accept}");
    }
    let forced = request(&app, Method::GET, &format!("{path}&format=avif"), &[("accept", "*/*")]).await;
    assert_eq!(header(&forced, "content-type"), "image/avif");
    assert_eq!(app.blob_keys().await.len(), 1 + 3 * 3, "the original, and three sizes in three formats");
    app.stop().await;
}

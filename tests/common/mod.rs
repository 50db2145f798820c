//! Spawns the real application (the same `Application::build` the binary
//! uses) on port 0 with a temporary data_dir, and drives it over HTTP.
#![allow(dead_code)]

use std::{path::Path, time::Duration};

use image::{DynamicImage, RgbImage};
use imaged::{config::Settings, startup::Application};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    pub metrics_address: String,
    pub client: reqwest::Client,
    pub backends: imaged::startup::Backends,
    shutdown: CancellationToken,
    stopped: tokio::sync::oneshot::Receiver<()>,
}

/// Settings for a test app in `dir`; tweak them before [`spawn`].
pub fn settings(dir: &Path) -> Settings {
    let mut s = Settings { data_dir: dir.to_path_buf(), ..Settings::default() };
    s.http.bind = "127.0.0.1:0".into();
    s.metrics.bind = "127.0.0.1:0".into();
    s.queue.wait_secs = 1;
    s.processing.workers = 2;
    s
}

/// Settings for an API-only host: no pollers, so messages stay queued.
pub fn api_only(dir: &Path) -> Settings {
    let mut s = settings(dir);
    s.queue.pollers = 0;
    s
}

pub async fn spawn(settings: Settings) -> TestApp {
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port().unwrap_or_default());
    let backends = app.backends.clone();
    let shutdown = app.shutdown_token();
    let (done, stopped) = tokio::sync::oneshot::channel();
    actix_rt::spawn(async move {
        app.run_until_stopped().await.expect("app runs");
        let _ = done.send(());
    });
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { address, metrics_address, client, backends, shutdown, stopped }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the app gracefully and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.stopped).await.expect("stops in time").ok();
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = Form::new().part("upfile", Part::bytes(bytes).file_name(name.to_owned()));
        self.client.post(self.url("/api/image")).multipart(form).send().await.unwrap()
    }

    /// Uploads and returns the new id.
    pub async fn upload_ok(&self, name: &str, bytes: Vec<u8>) -> i64 {
        let response = self.upload(name, bytes).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["id"].as_i64().expect("numeric id")
    }

    pub async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Polls the thumbnails document until its status is `done` or `failed`.
    pub async fn finished(&self, id: i64) -> Value {
        for _ in 0..600 {
            let doc = self.json(&format!("/api/image/{id}/thumbnails")).await;
            if doc["status"] == "done" || doc["status"] == "failed" {
                return doc;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("image {id} did not finish within 60 s");
    }
}

/// A JPEG with detail in it (a gradient with stripes).
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, image::ImageFormat::Jpeg)
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, image::ImageFormat::Png)
}

fn encode(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, if (x / 7) % 2 == 0 { 40 } else { 200 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Files under a directory, recursively.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

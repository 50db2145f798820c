//! Spawns the real application (the same `Application::build` the binary
//! uses) on port 0 with a temporary data_dir, and drives it over HTTP.
//!
//! The suite runs on one backend set, chosen by `IMAGED_TEST_BACKENDS`:
//! unset or `embedded` → files, SQLite and the embedded queue; `aws` → S3,
//! SQS, SNS (moto) and MySQL (MariaDB), a set of their own for each test.
#![allow(dead_code)]

pub mod aws;
pub mod events;
pub mod faults;
pub mod heif;
pub mod metadata;
pub mod once;
pub mod proxy;
pub mod seed;

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

/// Whether this run of the suite is on the production backends.
pub fn on_aws() -> bool {
    match std::env::var("IMAGED_TEST_BACKENDS").as_deref() {
        Ok("aws") => true,
        Ok("embedded") | Err(_) => false,
        Ok(other) => panic!("IMAGED_TEST_BACKENDS={other}: expected embedded or aws"),
    }
}

/// Settings for a test app in `dir` on embedded backends.
pub fn embedded_settings(dir: &Path) -> Settings {
    let mut s = Settings { data_dir: dir.to_path_buf(), ..Settings::default() };
    s.http.bind = "127.0.0.1:0".parse().unwrap();
    s.metrics.bind = Some("127.0.0.1:0".parse().unwrap());
    s.queue.wait_secs = 1;
    s.processing.workers = 2;
    s
}

/// Settings for a test app in `dir` on this run's backend set (fresh
/// resources on moto and MariaDB for `aws`); tweak them before [`spawn`].
pub async fn settings(dir: &Path) -> Settings {
    let mut s = embedded_settings(dir);
    if on_aws() {
        aws::Fixture::create().await.apply(&mut s);
    }
    s
}

/// Settings for an API-only host: no pollers, so messages stay queued.
pub async fn api_only(dir: &Path) -> Settings {
    let mut s = settings(dir).await;
    s.queue.pollers = 0;
    s
}

pub async fn spawn(settings: Settings) -> TestApp {
    let backends = imaged::startup::Backends::build(&settings).await.expect("backends build");
    spawn_on(settings, backends).await
}

/// As [`spawn`], on backends a test has wrapped (see [`faults`]).
pub async fn spawn_on(settings: Settings, backends: imaged::startup::Backends) -> TestApp {
    let app = Application::with_backends(settings, backends).await.expect("app builds");
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

    /// Starts the graceful stop (as SIGTERM does) without waiting for it.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
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

impl TestApp {
    /// Every key in the blob store, sorted.
    pub async fn blob_keys(&self) -> Vec<String> {
        let mut keys = self.backends.blobs.list("").await.expect("list the blob store");
        keys.sort();
        keys
    }

    /// Waits until the queue holds nothing visible or in flight.
    pub async fn drained(&self) {
        for _ in 0..600 {
            let stats = self.backends.queue.stats().await.unwrap();
            if stats.depth + stats.in_flight == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the queue did not drain within 60 s");
    }
}

/// The real binary, started with `envs` (on top of a clean port 0 and no
/// metrics listener), and the port it logs once ready. Its log goes to
/// `imaged.log` in its directory; dropped without [`Daemon::stop`] (a
/// failed test), it is killed.
pub struct Daemon {
    pub child: std::process::Child,
    pub port: u16,
    log: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn start(dir: &Path, envs: &[(String, String)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = imaged_command()
            .current_dir(dir)
            .env("IMAGED__DATA_DIR", dir)
            .env("IMAGED__HTTP__BIND", "127.0.0.1:0")
            .env("IMAGED__METRICS__BIND", "")
            .env("IMAGED__LOG__FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the imaged binary");
        let log_path = dir.join("imaged.log");
        let mut log = std::fs::File::create(&log_path).expect("create imaged.log");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                use std::io::Write;
                let _ = writeln!(log, "{line}");
                let json: Value = serde_json::from_str(&line).ok()?;
                (json["fields"]["message"] == "imaged ready").then(|| json["fields"]["port"].as_u64())?
            })
            .expect("the daemon logs its port");
        std::thread::spawn(move || {
            use std::io::Write;
            lines.map_while(Result::ok).for_each(|line| {
                let _ = writeln!(log, "{line}");
            })
        });
        Self { child, port: port as u16, log: log_path }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The thumbnails document of image `id`.
    pub async fn thumbnails(&self, id: i64) -> Value {
        let response = reqwest::get(self.url(&format!("/api/image/{id}/thumbnails"))).await.unwrap();
        response.json().await.unwrap()
    }

    /// Polls image `id` until it is `done`; `failed`, or still not done at
    /// `deadline`, fails the test.
    pub async fn done(&self, id: i64, deadline: std::time::Instant) -> Value {
        loop {
            let doc = self.thumbnails(id).await;
            if doc["status"] == "done" {
                return doc;
            }
            assert_ne!(doc["status"], "failed", "{doc}");
            assert!(std::time::Instant::now() < deadline, "image {id} is {}:\n{}", doc["status"], self.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then the exit status (within 30 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "still running 30 s after SIGTERM:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The imaged binary, kept from any installed `/etc/imaged` settings (a
/// machine may have the package): a test gives its settings itself.
pub fn imaged_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_imaged"));
    command.env("IMAGED_CONFIG_DIR", "/nonexistent/imaged-tests");
    command
}

/// Polls `check` every 100 ms for up to 60 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 60 s");
}

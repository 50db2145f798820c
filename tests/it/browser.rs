//! The gallery page in a real browser: Debian's headless Chromium, driven
//! by tests/browser/gallery.cjs (on a desktop window and a 390 px wide
//! phone screen) and tests/browser/paging.cjs through playwright-core
//! (both installed by scripts/test). Screenshots of each step are left in
//! target/tmp/gallery.

use crate::common;

use std::{path::PathBuf, process::Command};

use common::{embedded_settings, jpeg, spawn};

fn playwright() -> String {
    std::env::var("IMAGED_PLAYWRIGHT").expect(
        "IMAGED_PLAYWRIGHT is not set: run the tests with scripts/test, which installs playwright-core and chromium",
    )
}

/// Runs `tests/browser/<script>` with `args` in node; what it printed, a
/// JSON value per line.
async fn run_script(script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut node = Command::new("node");
    node.arg(format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"))).args(args);
    node.env("IMAGED_PLAYWRIGHT", playwright());
    // The browser talks to the app on this thread's runtime: wait elsewhere.
    let out = tokio::task::spawn_blocking(move || node.output().expect("run node")).await.unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser run failed:\n{stdout}\n{stderr}");
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The names of the screens a script's runs were on.
fn screens(runs: &[serde_json::Value]) -> Vec<&str> {
    runs.iter().map(|r| r["name"].as_str().unwrap()).collect()
}

#[actix_web::test]
async fn the_gallery_uploads_shows_opens_and_deletes_an_image_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let settings = embedded_settings(dir.path());
    let sizes = settings.processing.sizes.len();
    let app = spawn(settings).await;
    let photo = dir.path().join("holiday photo.jpg");
    std::fs::write(&photo, jpeg(1200, 800)).unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gallery");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let args = [&app.address, &*photo.to_string_lossy(), &shots.to_string_lossy(), &sizes.to_string()];
    let runs = run_script("gallery.cjs", &args).await;
    assert_eq!(screens(&runs), ["desktop", "phone"]);

    for name in ["desktop", "phone"] {
        for step in ["grid", "detail", "deleted"] {
            let shot = shots.join(format!("{name}-{step}.png"));
            let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
            assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", shot.display());
        }
    }
    // What the page deleted is gone: rows and objects.
    assert_eq!(app.json("/api/image").await, serde_json::json!([]));
    app.drained().await;
    assert_eq!(app.blob_keys().await, Vec::<String>::new());
    app.stop().await;
}

/// More images than a page of the gallery holds: one request fills the
/// first page, scrolling brings the rest, the filter shows the failed.
#[actix_web::test]
async fn the_gallery_pages_through_the_images_as_it_scrolls() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(embedded_settings(dir.path())).await;
    let (count, failed) = (60, 2);
    let mut ids = Vec::new();
    for i in 0..count {
        let bytes = if i < failed { b"\xff\xd8\xff not a whole JPEG".to_vec() } else { jpeg(64, 48) };
        ids.push(app.upload_ok(&format!("{i}.jpg"), bytes).await);
    }
    for id in ids {
        app.finished(id).await;
    }

    run_script("paging.cjs", &[&app.address, &count.to_string(), &failed.to_string()]).await;
    app.stop().await;
}

/// The gallery over 10,000 images (50 made by imaged, the rest copies of
/// their rows sharing their objects), on a desktop window and a phone
/// screen: at most 10 API requests for a first visit, none from an idle
/// tab, pages as it scrolls with only the cards near the screen in the
/// page, and an upload in one tab pushed to another. On both backend sets;
/// the figures it prints are in BENCHMARKS.md.
#[actix_web::test]
async fn the_gallery_at_ten_thousand_images_pages_stays_quiet_and_is_pushed_changes() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(dir.path()).await;
    let app = spawn(settings.clone()).await;
    let (made, total) = (50, 10_000);
    let mut ids = Vec::new();
    for i in 0..made {
        ids.push(app.upload_ok(&format!("photo {i}.jpg"), jpeg(320, 240)).await);
    }
    for id in &ids {
        app.finished(*id).await;
    }
    assert_eq!(ids, (1..=made).collect::<Vec<i64>>(), "the made images come first");
    common::seed::copies(&settings, made, total - made).await;
    let stats = app.json("/api/stats").await;
    assert_eq!((&stats["images"]["count"], &stats["jobs"]["done"]), (&total.into(), &total.into()), "{stats}");
    let photo = dir.path().join("new.jpg");
    std::fs::write(&photo, jpeg(320, 240)).unwrap();

    let runs = run_script("scale.cjs", &[&app.address, &total.to_string(), &photo.to_string_lossy()]).await;
    assert_eq!(screens(&runs), ["desktop", "phone"]);
    let backends = if common::on_aws() { "MariaDB + moto" } else { "embedded" };
    for run in &runs {
        eprintln!("gallery at {total} images ({backends}): {run}");
    }
    app.stop().await;
}

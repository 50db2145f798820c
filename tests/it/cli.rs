//! The binary itself: its subcommands, and a clean stop on SIGTERM.

use crate::common;

use std::process::Command;

use common::{Daemon, jpeg};

fn imaged() -> Command {
    common::imaged_command()
}

#[test]
fn thumbnail_writes_each_size_of_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wide.jpg");
    std::fs::write(&input, jpeg(1000, 500)).unwrap();
    let out = dir.path().join("out");
    let status = imaged()
        .current_dir(dir.path())
        .args(["thumbnail", "--size", "100", "--size", "300", "--quality", "70", "--out"])
        .arg(&out)
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success());
    for (size, dims) in [(100, (100, 50)), (300, (300, 150))] {
        let thumb = image::open(out.join(format!("wide-{size}.jpg"))).unwrap();
        assert_eq!((thumb.width(), thumb.height()), dims);
    }
}

#[test]
fn thumbnail_writes_webp_beside_jpeg_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tall.jpg");
    std::fs::write(&input, jpeg(300, 600)).unwrap();
    let out = dir.path().join("out");
    let output = imaged()
        .args(["thumbnail", "--size", "128", "--format", "webp", "--format", "jpeg", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for (name, format) in [("tall-128.webp", image::ImageFormat::WebP), ("tall-128.jpg", image::ImageFormat::Jpeg)] {
        let bytes = std::fs::read(out.join(name)).unwrap();
        let thumb = image::load_from_memory_with_format(&bytes, format).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (64, 128), "{name}");
    }
    let refused = imaged().args(["thumbnail", "--format", "gif", "--out"]).arg(&out).arg(&input).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a thumbnail format (jpeg, webp, avif)"));
}

#[test]
fn thumbnail_reports_files_it_cannot_read_as_images() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.jpg");
    std::fs::write(&input, "plain text").unwrap();
    let output = imaged().current_dir(dir.path()).args(["thumbnail", "--out", "out"]).arg(&input).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a supported image"));
}

/// Inputs alike in stem get outputs of their own; nothing is written over
/// unless asked; what was written is printed; errors name their paths.
#[test]
fn thumbnail_never_overwrites_silently_and_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (jpg, png) = (dir.path().join("pic.jpg"), dir.path().join("pic.png"));
    std::fs::write(&jpg, jpeg(400, 200)).unwrap();
    std::fs::write(&png, common::png(200, 400)).unwrap();
    let out = dir.path().join("out");
    let thumbnail = |extra: &[&str]| {
        let mut command = imaged();
        command.current_dir(dir.path()).args(["thumbnail", "--size", "100", "--out"]).arg(&out).args(extra);
        command.arg(&jpg).arg(&png).output().unwrap()
    };

    let first = thumbnail(&["-v"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    for (name, dims) in [("pic.jpg-100.jpg", (100, 50)), ("pic.png-100.jpg", (50, 100))] {
        let written = out.join(name);
        assert!(stdout.contains(&format!("wrote {}", written.display())), "{stdout}");
        let thumb = image::open(&written).unwrap();
        assert_eq!((thumb.width(), thumb.height()), dims);
    }
    assert!(stdout.contains("2 images, 2 thumbnails in") && stdout.contains("images/s"), "{stdout}");

    let again = thumbnail(&[]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(
        stderr.contains(&format!("{} exists already (--overwrite replaces it)", out.join("pic.jpg-100.jpg").display())),
        "{stderr}"
    );
    assert!(thumbnail(&["--overwrite"]).status.success());

    let not_a_folder = imaged().args(["thumbnail", "--out"]).arg(&jpg).arg(&png).output().unwrap();
    let stderr = String::from_utf8_lossy(&not_a_folder.stderr);
    assert!(
        !not_a_folder.status.success() && stderr.contains(&format!("--out {}: is a file", jpg.display())),
        "{stderr}"
    );
    let missing = imaged().args(["thumbnail", "--out"]).arg(&out).arg(dir.path().join("nope.jpg")).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.jpg: reading it"), "{missing:?}");
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let ok = imaged().current_dir(dir.path()).arg("check-config").output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = imaged()
        .current_dir(dir.path())
        .arg("check-config")
        .env("IMAGED__PROCESSING__SIZES", "128,0")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("processing.sizes"));
}

#[test]
fn a_taken_port_is_named_with_its_listener_and_setting_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    for (bind, metrics, names) in [
        (address.as_str(), "127.0.0.1:0", ["API listener", "http.bind"]),
        ("127.0.0.1:0", address.as_str(), ["metrics listener", "metrics.bind"]),
    ] {
        let output = imaged()
            .current_dir(dir.path())
            .env("IMAGED__DATA_DIR", "state")
            .env("IMAGED__HTTP__BIND", bind)
            .env("IMAGED__METRICS__BIND", metrics)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        for name in names.iter().chain([&address.as_str()]) {
            assert!(stderr.contains(name), "{name} not in {stderr}");
        }
        assert!(!dir.path().join("state").exists(), "nothing made before the listeners");
    }
}

/// A log read by a program (journald, a file) holds no colour codes, and
/// a notice's log names how many it went to, not who.
#[actix_web::test]
async fn logs_have_no_colour_codes_and_no_subscribers_addresses() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = imaged()
        .current_dir(dir.path())
        .env("IMAGED__DATA_DIR", dir.path())
        .env("IMAGED__HTTP__BIND", "127.0.0.1:0")
        .env("IMAGED__METRICS__BIND", "")
        .env("IMAGED__LOG__FORMAT", "text")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
    let ready = lines.by_ref().find(|line| line.contains("imaged ready")).expect("the daemon starts");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!ready.contains('\u{1b}'), "{ready:?}");

    let mut daemon = Daemon::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let subscribed = client.post(daemon.url("/api/notification/private.person@example.com")).send().await.unwrap();
    assert_eq!(subscribed.status(), 200);
    let form = reqwest::multipart::Form::new()
        .part("upfile", reqwest::multipart::Part::bytes(jpeg(64, 64)).file_name("a.jpg"));
    let uploaded: serde_json::Value =
        client.post(daemon.url("/api/image")).multipart(form).send().await.unwrap().json().await.unwrap();
    daemon.done(uploaded["id"].as_i64().unwrap(), std::time::Instant::now() + std::time::Duration::from_secs(60)).await;
    common::eventually("the notice is logged", || async { daemon.log().contains("\"recipients\":1") }).await;
    assert!(daemon.stop().success());
    assert!(!daemon.log().contains("private.person"), "{}", daemon.log());
}

/// With no --config, the CLI reads the installed config.toml and env file
/// (here under a fake root), says what it read and looked at, and makes
/// nothing in the folder it was run from.
#[tokio::test]
async fn the_cli_finds_the_installed_settings_and_says_what_it_looked_at() {
    use imaged::queue::{EmbeddedQueue, JobQueue};
    let root = tempfile::tempdir().unwrap();
    let (etc, state, here) = (root.path().join("etc"), root.path().join("state"), root.path().join("here"));
    for dir in [&etc, &here] {
        std::fs::create_dir(dir).unwrap();
    }
    std::fs::write(etc.join("config.toml"), format!("data_dir = {:?}\n", state.display().to_string())).unwrap();
    std::fs::write(etc.join("env"), "# as the unit reads it\nIMAGED__PROCESSING__QUALITY=55\n").unwrap();
    let run = |args: &[&str]| {
        let output = imaged().current_dir(&here).env("IMAGED_CONFIG_DIR", &etc).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let read = format!("settings from {}, {}", etc.join("config.toml").display(), etc.join("env").display());
    let database = state.join("imaged.db");

    let (stdout, stderr) = run(&["migrate"]);
    assert!(stderr.contains(&read), "{stderr}");
    assert_eq!(stdout.trim(), format!("SQLite database {}: created, with every table", database.display()));
    assert_eq!(run(&["migrate"]).0.trim(), format!("SQLite database {}: up to date", database.display()));
    assert!(run(&["check-config"]).0.contains("\"quality\":55"), "the env file is read");

    // The service's dead letter, seen where the service keeps it.
    let settings = imaged::config::Settings { data_dir: state.clone(), ..Default::default() };
    let queue = EmbeddedQueue::new(imaged::db::open_local(&settings).await.unwrap(), std::time::Duration::ZERO, 1);
    queue.send("not a job").await.unwrap();
    assert_eq!(queue.receive(1, std::time::Duration::ZERO).await.unwrap().len(), 1);
    assert!(queue.receive(1, std::time::Duration::ZERO).await.unwrap().is_empty(), "now a dead letter");
    let (stdout, stderr) = run(&["dlq", "list"]);
    assert!(stdout.contains("not a job"), "{stdout}");
    assert!(stderr.contains(&format!("queue: the embedded queue in {}", database.display())), "{stderr}");
    assert_eq!(std::fs::read_dir(&here).unwrap().count(), 0, "nothing made where it was run");
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = imaged().current_dir(dir.path()).arg("migrate").env("IMAGED__DATA_DIR", "state").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("state/imaged.db").is_file());
}

#[tokio::test]
async fn dlq_lists_the_dead_letters_and_redrives_them() {
    use imaged::queue::{EmbeddedQueue, JobQueue};
    let dir = tempfile::tempdir().unwrap();
    let settings = imaged::config::Settings { data_dir: dir.path().to_owned(), ..Default::default() };
    let pool = imaged::db::open_local(&settings).await.unwrap();
    let queue = EmbeddedQueue::new(pool, std::time::Duration::from_millis(1), 1);
    queue.send("hello, not a job").await.unwrap();
    assert_eq!(queue.receive(1, std::time::Duration::ZERO).await.unwrap().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Received once of once: the next receive moves it to the dead letters.
    assert!(queue.receive(1, std::time::Duration::ZERO).await.unwrap().is_empty());

    let dlq = |args: &[&str]| {
        let output = imaged().env("IMAGED__DATA_DIR", dir.path()).arg("dlq").args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let listed = dlq(&["list"]);
    let letters: Vec<serde_json::Value> = listed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(letters.len(), 1, "{listed}");
    assert_eq!(
        (letters[0]["body"].as_str(), letters[0]["receive_count"].as_u64()),
        (Some("hello, not a job"), Some(1))
    );
    assert_eq!(dlq(&["redrive"]).trim(), "1 dead letters moved back to the queue");
    assert_eq!(dlq(&["list"]), "");
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.depth, stats.dead_letters), (1, 0));
    let again = queue.receive(1, std::time::Duration::ZERO).await.unwrap();
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("hello, not a job", 1), "redriven as a new message");
}

#[actix_web::test]
async fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &[]);
    let form = reqwest::multipart::Form::new()
        .part("upfile", reqwest::multipart::Part::bytes(jpeg(300, 200)).file_name("a.jpg"));
    let response = reqwest::Client::new().post(daemon.url("/api/image")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let status = daemon.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_still_stops_the_daemon_once_its_log_pipe_is_gone() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = imaged()
        .current_dir(dir.path())
        .env("IMAGED__HTTP__BIND", "127.0.0.1:0")
        .env("IMAGED__METRICS__BIND", "")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("imaged ready") {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0, "the daemon stopped before it was ready");
    }
    drop(log); // as when journald restarts: every later write to stderr fails
    std::thread::sleep(std::time::Duration::from_millis(200));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still running 30 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

/// Off EC2, on 0.0.0.0 with no http.public_url, imaged would hand out links
/// no client reaches: it says so, and what to set, before making anything.
#[test]
fn an_address_no_client_reaches_is_refused_naming_http_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let output = imaged()
        .current_dir(dir.path())
        .env("IMAGED__DATA_DIR", "state")
        .env("IMAGED__HTTP__BIND", "0.0.0.0:0")
        .env("IMAGED__METRICS__BIND", "")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("set http.public_url") && stderr.contains("direct-upload URLs"), "{stderr}");
    assert!(!dir.path().join("state").exists(), "nothing made");

    // With the address given, the same start goes ahead.
    let mut serving = imaged()
        .current_dir(dir.path())
        .env("IMAGED__DATA_DIR", "state")
        .env("IMAGED__HTTP__BIND", "0.0.0.0:0")
        .env("IMAGED__HTTP__PUBLIC_URL", "http://images.example.com:8080")
        .env("IMAGED__METRICS__BIND", "")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(serving.stderr.take().unwrap());
    let started = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .find(|line| line.contains("download links"))
        .expect("the log names the links' base");
    assert!(started.contains("http://images.example.com:8080"), "{started}");
    serving.kill().unwrap();
    serving.wait().unwrap();
}

/// `--version` and `imaged_build_info` agree on whether libjpeg-turbo's
/// SIMD code is in the build (`scripts/package` refuses a build without),
/// and name the libheif that reads HEIC and AVIF (the tests need one).
#[actix_web::test]
async fn the_version_and_the_build_metric_say_whether_simd_is_in_and_which_libheif() {
    let output = imaged().arg("--version").output().unwrap();
    let version = String::from_utf8(output.stdout).unwrap();
    let (_, build) = version.trim_end().strip_suffix(')').and_then(|v| v.split_once(" (")).expect(&version);
    let (simd, libheif) = match build.split_once("; HEIC/AVIF: libheif ") {
        Some(("libjpeg-turbo SIMD: yes", libheif)) => ("true", libheif),
        Some(("libjpeg-turbo SIMD: no: built without nasm", libheif)) => ("false", libheif),
        _ => panic!("{version}"),
    };
    assert!(libheif.starts_with("1."), "{version}");
    assert!(version.starts_with(&format!("imaged {}", env!("CARGO_PKG_VERSION"))), "{version}");
    let dir = tempfile::tempdir().unwrap();
    let app = common::spawn(common::embedded_settings(dir.path())).await;
    let metrics =
        app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap().text().await.unwrap();
    let built = format!(
        "imaged_build_info{{version=\"{}\",simd=\"{simd}\",libheif=\"{libheif}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.contains(&built), "no {built} in the metrics");
    app.stop().await;
}

//! The dashboard, the alert rules and the code checked against the real
//! thing: Debian's `prometheus` scrapes a running imaged (loopback, its own
//! port and data directory) with `dashboards/alerts.yml` loaded. Every
//! PromQL expression of every panel and every rule must evaluate, every
//! panel must show series once jobs have run, and `promtool check metrics`
//! must find nothing to lint in a real scrape.

use crate::common;

use std::{
    io::Write,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::jpeg;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

const DASHBOARDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards");

/// A Prometheus server, killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    async fn start(dir: &Path, target: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 rule_files: ['{DASHBOARDS}/alerts.yml']\n\
                 scrape_configs:\n  - job_name: imaged\n    static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus (Debian's prometheus package; scripts/test installs it)");
        let prometheus = Self { child, base: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = prometheus.client.get(format!("{}/-/ready", prometheus.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return prometheus;
            }
            assert!(Instant::now() < deadline, "prometheus is not ready after 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn api(&self, path: &str) -> Value {
        let body: Value =
            self.client.get(format!("{}/api/v1/{path}", self.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// An instant query's result vector.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api(&format!("query?query={}", utf8_percent_encode(expr, NON_ALPHANUMERIC))).await;
        data["result"].as_array().cloned().unwrap_or_default()
    }
}

/// A panel's expression as Grafana would send it for job "imaged", all instances.
fn as_grafana_sends(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m").replace("$instance", ".+").replace("$job", "imaged")
}

#[actix_web::test]
async fn dashboard_and_rules_evaluate_against_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let app = common::spawn(common::embedded_settings(dir.path())).await;
    for i in 0..3 {
        let id = app.upload_ok(&format!("ok{i}.jpg"), jpeg(640, 480)).await;
        assert_eq!(app.finished(id).await["status"], "done");
    }
    let mut corrupt = jpeg(640, 480);
    corrupt.truncate(600);
    let id = app.upload_ok("cut.jpg", corrupt).await;
    assert_eq!(app.finished(id).await["status"], "failed");
    assert_eq!(app.get("/api/image/999999").await.status(), 404);

    // The exposition passes promtool's lint.
    let scrape = app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap().text().await.unwrap();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package)");
    promtool.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let lint = promtool.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&lint.stdout), String::from_utf8_lossy(&lint.stderr));
    assert!(lint.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");
    let families = scrape.lines().filter(|l| l.starts_with("# TYPE ")).count();

    let target = app.metrics_address.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(dir.path(), &target).await;
    // Enough scrapes for every rate over 1m, and every rule evaluated.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let samples = prometheus.query(r#"count_over_time(up{job="imaged"}[1m])"#).await;
        let scraped = samples.first().and_then(|s| s["value"][1].as_str()?.parse::<u32>().ok()).unwrap_or(0);
        let rules = prometheus.api("rules").await;
        let evaluated =
            rules["groups"][0]["rules"].as_array().is_some_and(|rules| rules.iter().all(|r| r["health"] != "unknown"));
        if scraped >= 5 && evaluated {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus scraped {scraped} times in 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let up = prometheus.query(r#"up{job="imaged"}"#).await;
    assert_eq!(up.len(), 1);
    assert_eq!(up[0]["value"][1], "1", "the target is up");

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DASHBOARDS}/imaged.json")).unwrap()).unwrap();
    let panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row").collect();
    let mut empty = Vec::new();
    for panel in &panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{} uses the datasource variable", panel["title"]);
        let mut series = 0;
        for target in panel["targets"].as_array().unwrap() {
            series += prometheus.query(&as_grafana_sends(target["expr"].as_str().unwrap())).await.len();
        }
        if series == 0 {
            empty.push(panel["title"].as_str().unwrap().to_owned());
        }
    }
    assert!(empty.is_empty(), "panels without series after jobs ran: {empty:?}");
    let jobs = prometheus.api("label/job/values?match[]=imaged_build_info").await;
    assert_eq!(jobs, serde_json::json!(["imaged"]), "the job variable's query finds the job");

    let rules = prometheus.api("rules").await;
    let rules = rules["groups"][0]["rules"].as_array().unwrap().clone();
    let written = std::fs::read_to_string(format!("{DASHBOARDS}/alerts.yml")).unwrap();
    let written = written.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    assert_eq!(rules.len(), written, "every rule of alerts.yml is loaded");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{}: {}", rule["name"], rule["lastError"]);
        prometheus.query(rule["query"].as_str().unwrap()).await;
    }
    println!("{families} metric families lint clean; {} panels and {} rules checked", panels.len(), rules.len());
    app.stop().await;
}

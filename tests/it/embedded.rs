//! Behaviour only the embedded backends can show (moto confirms every SNS
//! subscription at once, so a pending one exists only here).

use crate::common;

use common::{embedded_settings, spawn};
use serde_json::Value;

#[actix_web::test]
async fn a_pending_subscription_cannot_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = embedded_settings(dir.path());
    s.notify.auto_confirm = false;
    let app = spawn(s).await;
    let response = app.client.post(app.url("/api/notification/wait@example.com")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.json("/api/notification").await[0]["SubscriptionArn"], "PendingConfirmation");
    let removed = app.delete("/api/notification/wait@example.com").await;
    assert_eq!(removed.status(), 412);
    assert_eq!(removed.json::<Value>().await.unwrap(), "Subscription is still pending!");
    app.stop().await;
}

/// On EC2 with imaged on 0.0.0.0:PORT, the links it hands out name the
/// instance's public hostname and that port.
#[actix_web::test]
async fn links_name_the_public_hostname_and_the_port_imaged_listens_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = embedded_settings(dir.path());
    s.http.bind = "0.0.0.0:0".parse().unwrap();
    s.aws.metadata_url = common::metadata::start("ec2-203-0-113-25.compute-1.amazonaws.com");
    let app = spawn(s).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let grant = app.json("/api/image/upload_url?filename=a.jpg&content_type=image/jpeg&size=100").await;
    let url = grant["url"].as_str().unwrap();
    let base = format!("http://ec2-203-0-113-25.compute-1.amazonaws.com:{port}/api/image/direct/");
    assert!(url.starts_with(&base), "{url} does not start with {base}");
    app.stop().await;
}

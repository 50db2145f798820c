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

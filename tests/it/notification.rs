//! `/api/notification`: e-mail subscriptions, with CloudX's texts.

use crate::common;

use common::{settings, spawn};
use serde_json::Value;

#[actix_web::test]
async fn subscribe_list_and_unsubscribe() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let post = |path: String| app.client.post(app.url(&path)).send();

    let response = post("/api/notification/test+abc@example.com".into()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Successfully subscribed."));
    let encoded = post("/api/notification/other%2Bx%40example.com".into()).await.unwrap();
    assert_eq!(encoded.status(), 200);

    let list = app.json("/api/notification").await;
    let entries = list.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let endpoints: Vec<_> = entries.iter().map(|e| e["Endpoint"].as_str().unwrap()).collect();
    assert_eq!(endpoints, ["test+abc@example.com", "other+x@example.com"], "+ stays +, %2B/%40 decode");
    for entry in entries {
        let keys: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5);
        assert_eq!(entry["Protocol"], "email");
        let topic = entry["TopicArn"].as_str().unwrap();
        assert!(entry["SubscriptionArn"].as_str().unwrap().starts_with(topic));
        assert!(!entry["Owner"].as_str().unwrap().is_empty());
    }

    for bad in ["not-an-address", "a@", "@example.com", "a%20b@example.com"] {
        let response = post(format!("/api/notification/{bad}")).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(response.json::<Value>().await.unwrap(), "Invalid e-mail address!");
    }

    let removed = app.delete("/api/notification/test+abc@example.com").await;
    assert_eq!(removed.status(), 200);
    let again = app.delete("/api/notification/test+abc@example.com").await;
    assert_eq!(again.status(), 404);
    assert_eq!(again.json::<Value>().await.unwrap(), "Subscription is not found!");
    assert_eq!(app.json("/api/notification").await.as_array().unwrap().len(), 1);
    app.stop().await;
}

/// Mail systems take an address in any case: so does unsubscribing.
#[actix_web::test]
async fn an_address_is_unsubscribed_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let subscribed = app.client.post(app.url("/api/notification/UPPER@Example.COM")).send().await.unwrap();
    assert_eq!(subscribed.status(), 200);
    assert_eq!(app.delete("/api/notification/upper@example.com").await.status(), 200);
    assert!(app.json("/api/notification").await.as_array().unwrap().is_empty());
    app.stop().await;
}

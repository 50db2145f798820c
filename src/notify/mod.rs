//! `Notifier`: e-mail notices and their subscriptions, as CloudX keeps
//! them in an SNS topic.

mod log;
mod sns;

use async_trait::async_trait;
use serde::Serialize;

pub use log::LogNotifier;
pub use sns::SnsNotifier;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("subscription is not found")]
    NotFound,
    #[error("subscription is still pending")]
    Pending,
    #[error("invalid e-mail address")]
    InvalidAddress,
    /// Worth retrying.
    #[error("notifier unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

/// One entry of SNS `ListSubscriptionsByTopic`, with its field names.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    pub subscription_arn: String,
    pub owner: String,
    pub protocol: String,
    pub endpoint: String,
    pub topic_arn: String,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes a plain-text notice to every confirmed subscription.
    async fn publish(&self, message: &str) -> Result<(), NotifyError>;
    async fn subscribe(&self, email: &str) -> Result<(), NotifyError>;
    async fn unsubscribe(&self, email: &str) -> Result<(), NotifyError>;
    async fn subscriptions(&self) -> Result<Vec<Subscription>, NotifyError>;
}

/// The subscription for `email` among `all`: one spelled as given, else one
/// that differs only in case, since mail systems take an address in any
/// case (CloudX compared the spelling alone).
fn find_subscription(mut all: Vec<Subscription>, email: &str) -> Option<Subscription> {
    let exact = all.iter().position(|s| s.endpoint == email);
    let found = exact.or_else(|| all.iter().position(|s| s.endpoint.eq_ignore_ascii_case(email)))?;
    Some(all.swap_remove(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(endpoint: &str) -> Subscription {
        Subscription {
            subscription_arn: format!("arn:{endpoint}"),
            owner: String::new(),
            protocol: "email".into(),
            endpoint: endpoint.into(),
            topic_arn: String::new(),
        }
    }

    #[test]
    fn an_address_is_found_in_any_case_its_own_spelling_first() {
        let all = vec![subscription("Bob@Example.COM"), subscription("bob@example.com")];
        assert_eq!(find_subscription(all.clone(), "bob@example.com").unwrap().endpoint, "bob@example.com");
        assert_eq!(find_subscription(all.clone(), "BOB@EXAMPLE.COM").unwrap().endpoint, "Bob@Example.COM");
        assert!(find_subscription(all, "bobby@example.com").is_none());
    }
}

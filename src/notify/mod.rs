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

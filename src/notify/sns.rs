//! SNS backend: notices are published to the topic as readable text (the
//! CloudX bodies, no subject, no attributes), and the subscriptions are the
//! topic's own, e-mail ones made with protocol `email` as CloudX does.

use async_trait::async_trait;
use aws_sdk_sns::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata},
};

use super::{Notifier, NotifyError, Subscription};

/// SNS's ARN for a subscription the address owner has not confirmed yet.
const PENDING: &str = "PendingConfirmation";

pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: &str) -> Self {
        Self { client, topic_arn: topic_arn.to_owned() }
    }
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(err: E) -> NotifyError {
    NotifyError::Unavailable(anyhow::anyhow!("{}", DisplayErrorContext(err)))
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, message: &str) -> Result<(), NotifyError> {
        self.client.publish().topic_arn(&self.topic_arn).message(message).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn subscribe(&self, email: &str) -> Result<(), NotifyError> {
        let subscribe = self
            .client
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("email")
            .endpoint(email)
            .return_subscription_arn(true);
        match subscribe.send().await {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("InvalidParameter") => Err(NotifyError::InvalidAddress),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// As CloudX: the first subscription of any protocol for this address.
    async fn unsubscribe(&self, email: &str) -> Result<(), NotifyError> {
        let found = super::find_subscription(self.subscriptions().await?, email).ok_or(NotifyError::NotFound)?;
        if found.subscription_arn == PENDING {
            return Err(NotifyError::Pending);
        }
        let unsubscribe = self.client.unsubscribe().subscription_arn(&found.subscription_arn);
        match unsubscribe.send().await {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("NotFound") => Err(NotifyError::NotFound),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Every page of `ListSubscriptionsByTopic` (CloudX read only the first).
    async fn subscriptions(&self) -> Result<Vec<Subscription>, NotifyError> {
        let items =
            self.client.list_subscriptions_by_topic().topic_arn(&self.topic_arn).into_paginator().items().send();
        let all: Vec<aws_sdk_sns::types::Subscription> = items.try_collect().await.map_err(unavailable)?;
        let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
        Ok(all
            .into_iter()
            .map(|s| Subscription {
                subscription_arn: text(s.subscription_arn()),
                owner: text(s.owner()),
                protocol: text(s.protocol()),
                endpoint: text(s.endpoint()),
                topic_arn: text(s.topic_arn()),
            })
            .collect())
    }
}

//! The embedded notifier: subscriptions in the local database, notices
//! written to the log (there is no mail server to send them through).

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{Row, SqlitePool};

use super::{Notifier, NotifyError, Subscription};

/// SNS's ARN for a subscription the address owner has not confirmed yet.
const PENDING: &str = "PendingConfirmation";
const OWNER: &str = "000000000000";

pub struct LogNotifier {
    pool: SqlitePool,
    topic_arn: String,
    auto_confirm: bool,
}

impl LogNotifier {
    pub fn new(pool: SqlitePool, topic_arn: &str, auto_confirm: bool) -> Self {
        Self { pool, topic_arn: topic_arn.to_owned(), auto_confirm }
    }
}

fn unavailable(err: sqlx::Error) -> NotifyError {
    NotifyError::Unavailable(err.into())
}

#[async_trait]
impl Notifier for LogNotifier {
    async fn publish(&self, message: &str) -> Result<(), NotifyError> {
        let recipients: Vec<String> =
            sqlx::query_scalar("SELECT endpoint FROM subscriptions WHERE subscription_arn <> ? ORDER BY created_at")
                .bind(PENDING)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        // Addresses are personal data: the count at INFO, who only at DEBUG.
        tracing::info!(topic = %self.topic_arn, recipients = recipients.len(), message, "notice");
        tracing::debug!(?recipients, "notice recipients");
        Ok(())
    }

    async fn subscribe(&self, email: &str) -> Result<(), NotifyError> {
        let arn =
            if self.auto_confirm { format!("{}:{}", self.topic_arn, uuid::Uuid::new_v4()) } else { PENDING.to_owned() };
        // Subscribing an address twice keeps the first subscription, as SNS does.
        sqlx::query(
            "INSERT INTO subscriptions (endpoint, subscription_arn, protocol, created_at) VALUES (?, ?, 'email', ?)
             ON CONFLICT (endpoint) DO NOTHING",
        )
        .bind(email)
        .bind(arn)
        .bind(Utc::now().naive_utc())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn unsubscribe(&self, email: &str) -> Result<(), NotifyError> {
        let found = super::find_subscription(self.subscriptions().await?, email).ok_or(NotifyError::NotFound)?;
        if found.subscription_arn == PENDING {
            return Err(NotifyError::Pending);
        }
        sqlx::query("DELETE FROM subscriptions WHERE endpoint = ?")
            .bind(&found.endpoint)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, NotifyError> {
        let rows = sqlx::query("SELECT subscription_arn, protocol, endpoint FROM subscriptions ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| Subscription {
                subscription_arn: r.get("subscription_arn"),
                owner: OWNER.to_owned(),
                protocol: r.get("protocol"),
                endpoint: r.get("endpoint"),
                topic_arn: self.topic_arn.clone(),
            })
            .collect())
    }
}

//! SQS backend. Long polls (≤ 20 s, ≤ 10 messages), deletes in batches,
//! heartbeats and releases with `ChangeMessageVisibility`. When the queue
//! has a redrive policy its `maxReceiveCount` counts and SQS moves
//! exhausted messages to the dead-letter queue; without one, imaged drops
//! a message received more than `queue.max_receives` times, logging its
//! body, so a poison message cannot circulate forever.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sqs::{
    Client,
    error::DisplayErrorContext,
    operation::change_message_visibility::ChangeMessageVisibilityError as VisibilityError,
    types::{MessageSystemAttributeName as Attr, QueueAttributeName},
};
use tokio::sync::{mpsc, oneshot};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{DeadLetter, DeadLetters, Delivery, JobQueue, QueueError, QueueStats, Receipt};
use crate::{liveness::Liveness, workers::Runner};

mod deleter;

use deleter::{BatchDeleter, DeleteRequest};

/// How long listing the dead letters hides each from other readers.
const LIST_HIDE: Duration = Duration::from_secs(30);

pub struct SqsQueue {
    client: Client,
    url: String,
    /// Whether SQS dead-letters exhausted messages (the queue has a redrive policy).
    redrive: bool,
    /// Where they go, for its depth; unknown when the lookup was refused.
    dead_letter_url: Option<String>,
    /// What a receive hides a message for (the queue's own default may differ).
    visibility: Duration,
    max_receives: u32,
    deletes: mpsc::Sender<DeleteRequest>,
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::Unavailable(anyhow::anyhow!("{}", DisplayErrorContext(err)))
}

impl SqsQueue {
    /// Reads the queue's redrive policy (which then decides the receive
    /// limit) and starts the batch deleter.
    pub async fn connect(client: Client, url: &str, visibility: Duration, max_receives: u32) -> anyhow::Result<Self> {
        let attrs = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))
            .with_context(|| format!("reading the attributes of queue {url}"))?;
        let policy = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::RedrivePolicy));
        let (redrive, dead_letter_url, max_receives) = match policy {
            Some(policy) => {
                let (arn, count) = parse_redrive_policy(policy)?;
                // The URL serves only the depth figure: without it imaged still runs.
                let dlq = match queue_url_of(&client, &arn).await {
                    Ok(dlq) => Some(dlq),
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "the dead-letter queue's depth is unavailable");
                        None
                    }
                };
                (true, dlq, count)
            }
            None => {
                tracing::warn!(
                    queue = url,
                    max_receives,
                    "queue has no redrive policy: exhausted messages are dropped"
                );
                (false, None, max_receives)
            }
        };
        let (deletes, requests) = mpsc::channel(256);
        // A runner of its own: the deleter lives as long as this queue does.
        let runner = Runner::new(Liveness::default(), CancellationToken::new(), TaskTracker::new());
        runner.spawn(BatchDeleter::new(client.clone(), url.to_owned(), requests));
        Ok(Self { client, url: url.to_owned(), redrive, dead_letter_url, visibility, max_receives, deletes })
    }

    async fn counts(&self, url: &str, names: &[QueueAttributeName]) -> Result<Vec<u64>, QueueError> {
        let mut request = self.client.get_queue_attributes().queue_url(url);
        for name in names {
            request = request.attribute_names(name.clone());
        }
        let out = request.send().await.map_err(unavailable)?;
        let attrs = out.attributes().cloned().unwrap_or_default();
        Ok(names.iter().map(|n| attrs.get(n).and_then(|v| v.parse().ok()).unwrap_or(0)).collect())
    }
}

impl SqsQueue {
    fn dead_letter_url(&self) -> Result<&str, QueueError> {
        self.dead_letter_url.as_deref().ok_or_else(|| {
            QueueError::Unavailable(anyhow::anyhow!("queue {} has no dead-letter queue (no redrive policy)", self.url))
        })
    }

    /// Up to ten dead letters, hidden for `hide` from other readers.
    async fn receive_dead(&self, url: &str, hide: Duration) -> Result<Vec<aws_sdk_sqs::types::Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(hide.as_secs() as i32)
            .message_system_attribute_names(Attr::All)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.messages.unwrap_or_default())
    }
}

/// `{"deadLetterTargetArn": "...", "maxReceiveCount": 5}` (the count may
/// come as a number or a string).
fn parse_redrive_policy(policy: &str) -> anyhow::Result<(String, u32)> {
    let json: serde_json::Value = serde_json::from_str(policy).context("the queue's RedrivePolicy is not JSON")?;
    let arn = json["deadLetterTargetArn"].as_str().context("RedrivePolicy without deadLetterTargetArn")?;
    let count = match &json["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let count = count.filter(|&c| c > 0).context("RedrivePolicy without a valid maxReceiveCount")?;
    Ok((arn.to_owned(), u32::try_from(count).unwrap_or(u32::MAX)))
}

/// `arn:aws:sqs:REGION:ACCOUNT:NAME` → the queue's URL.
async fn queue_url_of(client: &Client, arn: &str) -> anyhow::Result<String> {
    let mut parts = arn.rsplitn(3, ':');
    let (name, account) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let out = client
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("looking up the dead-letter queue {arn}"))?;
    out.queue_url().map(str::to_owned).context("GetQueueUrl returned no URL")
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.client.send_message().queue_url(&self.url).message_body(body).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(self.visibility.as_secs() as i32)
            .message_system_attribute_names(Attr::ApproximateReceiveCount)
            .message_system_attribute_names(Attr::SentTimestamp)
            .send()
            .await
            .map_err(unavailable)?;
        let mut deliveries = Vec::new();
        for message in out.messages.unwrap_or_default() {
            let attr = |name: Attr| message.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<i64>().ok());
            let delivery = Delivery {
                body: message.body().unwrap_or_default().to_owned(),
                receipt: Receipt(message.receipt_handle().unwrap_or_default().to_owned()),
                receive_count: attr(Attr::ApproximateReceiveCount).unwrap_or(1).max(1) as u32,
                sent_at: chrono::DateTime::from_timestamp_millis(attr(Attr::SentTimestamp).unwrap_or_default())
                    .unwrap_or_default(),
            };
            if !self.redrive && delivery.receive_count > self.max_receives {
                tracing::error!(
                    body = delivery.body,
                    receive_count = delivery.receive_count,
                    "dropping an exhausted message"
                );
                if let Err(err) = self.delete(&delivery.receipt).await {
                    tracing::warn!(error = %err, "could not drop it; it comes back after its timeout");
                }
                continue;
            }
            deliveries.push(delivery);
        }
        Ok(deliveries)
    }

    async fn delete(&self, receipt: &Receipt) -> Result<(), QueueError> {
        let (reply, answer) = oneshot::channel();
        let gone = || QueueError::Unavailable(anyhow::anyhow!("the batch deleter has stopped"));
        self.deletes.send((receipt.0.clone(), reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn set_visibility(&self, receipt: &Receipt, timeout: Duration) -> Result<(), QueueError> {
        let change = self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(timeout.as_secs().min(43_200) as i32);
        match change.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(VisibilityError::MessageNotInflight(_) | VisibilityError::ReceiptHandleIsInvalid(_))
                ) =>
            {
                Err(QueueError::StaleReceipt)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        use QueueAttributeName::{
            ApproximateNumberOfMessages as Visible, ApproximateNumberOfMessagesNotVisible as Hidden,
        };
        let main = self.counts(&self.url, &[Visible, Hidden]).await?;
        let dead_letters = match &self.dead_letter_url {
            Some(url) => self.counts(url, &[QueueAttributeName::ApproximateNumberOfMessages]).await?[0],
            None => 0,
        };
        // SQS tells the age of the oldest message only through CloudWatch.
        Ok(QueueStats { depth: main[0], in_flight: main[1], dead_letters, oldest_age_secs: None })
    }

    fn max_receives(&self) -> u32 {
        self.max_receives
    }
}

#[async_trait]
impl DeadLetters for SqsQueue {
    /// SQS has no way to peek: the dead letters are received (hidden while
    /// they are read, so none is listed twice), then made visible again.
    async fn list(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let url = self.dead_letter_url()?;
        let mut listed: Vec<DeadLetter> = Vec::new();
        let mut receipts = Vec::new();
        while listed.len() < max {
            let batch = self.receive_dead(url, LIST_HIDE).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                let attr =
                    |name: Attr| message.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<i64>().ok());
                receipts.extend(message.receipt_handle().map(str::to_owned));
                listed.push(DeadLetter {
                    id: message.message_id().unwrap_or_default().to_owned(),
                    body: message.body().unwrap_or_default().to_owned(),
                    // Less the receive that listed it.
                    receive_count: attr(Attr::ApproximateReceiveCount).unwrap_or(1).saturating_sub(1) as u32,
                    sent_at: chrono::DateTime::from_timestamp_millis(attr(Attr::SentTimestamp).unwrap_or_default())
                        .unwrap_or_default(),
                });
            }
        }
        for receipt in receipts {
            let release = self.client.change_message_visibility().queue_url(url).receipt_handle(receipt);
            release.visibility_timeout(0).send().await.map_err(unavailable)?;
        }
        listed.sort_by_key(|letter| letter.sent_at);
        listed.truncate(max);
        Ok(listed)
    }

    async fn redrive(&self, max: usize) -> Result<usize, QueueError> {
        let url = self.dead_letter_url()?;
        let mut moved = 0;
        while moved < max {
            let batch = self.receive_dead(url, self.visibility).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                if moved == max {
                    break;
                }
                self.send(message.body().unwrap_or_default()).await?;
                let receipt = message.receipt_handle().unwrap_or_default();
                self.client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(unavailable)?;
                moved += 1;
            }
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_redrive_policy;

    #[test]
    fn redrive_policies_give_the_dead_letter_queue_and_the_count() {
        let (arn, count) =
            parse_redrive_policy(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123:dlq","maxReceiveCount":"3"}"#)
                .unwrap();
        assert_eq!((arn.as_str(), count), ("arn:aws:sqs:us-east-1:123:dlq", 3));
        assert_eq!(parse_redrive_policy(r#"{"deadLetterTargetArn":"a","maxReceiveCount":7}"#).unwrap().1, 7);
        assert!(parse_redrive_policy(r#"{"deadLetterTargetArn":"a","maxReceiveCount":0}"#).is_err());
        assert!(parse_redrive_policy("nope").is_err());
    }
}

//! The SQS queue's batch deleter: a message is deleted when its job is done,
//! ten to a request when many finish at once.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_sqs::{Client, error::DisplayErrorContext, types::DeleteMessageBatchRequestEntry};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    queue::QueueError,
    workers::{Next, Worker},
};

/// A receipt to delete, and where to say how it went.
pub type DeleteRequest = (String, oneshot::Sender<Result<(), QueueError>>);

/// A batch delete that takes longer fails its requests (the messages come
/// back, and their jobs, being idempotent, are redone).
const DELETE_TIMEOUT: Duration = Duration::from_secs(30);

/// Deletes what has been asked for since the last call, up to ten at a
/// time: batches form by themselves under load, and no delete waits for
/// company when the queue is quiet. It runs until its queue is dropped,
/// so jobs that finish in the drain still delete their messages.
pub struct BatchDeleter {
    client: Client,
    url: String,
    requests: mpsc::Receiver<DeleteRequest>,
    batch: Vec<DeleteRequest>,
}

#[async_trait]
impl Worker for BatchDeleter {
    fn name(&self) -> String {
        "SQS batch deleter".into()
    }

    fn deadline(&self) -> Option<Duration> {
        Some(DELETE_TIMEOUT + Duration::from_secs(10))
    }

    async fn work(&mut self, _stop: &CancellationToken) -> anyhow::Result<Next> {
        while self.batch.len() < 10 {
            match self.requests.try_recv() {
                Ok(request) => self.batch.push(request),
                Err(_) => break,
            }
        }
        let batch = std::mem::take(&mut self.batch);
        let entries = batch.iter().enumerate().map(|(i, (receipt, _))| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build()
        });
        let sent = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(entries.collect::<Result<_, _>>().ok())
            .send();
        let sent = tokio::time::timeout(DELETE_TIMEOUT, sent).await;
        match sent.map_err(|_| "timed out".to_owned()).and_then(|r| r.map_err(|e| DisplayErrorContext(e).to_string())) {
            Ok(out) => {
                let failed: HashMap<String, String> = out
                    .failed()
                    .iter()
                    .map(|f| (f.id().to_owned(), format!("{}: {}", f.code(), f.message().unwrap_or_default())))
                    .collect();
                for (i, (_, reply)) in batch.into_iter().enumerate() {
                    let result = match failed.get(&i.to_string()) {
                        Some(reason) => Err(QueueError::Unavailable(anyhow::anyhow!("delete failed: {reason}"))),
                        None => Ok(()),
                    };
                    let _ = reply.send(result);
                }
            }
            Err(reason) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(QueueError::Unavailable(anyhow::anyhow!("{reason}"))));
                }
            }
        }
        Ok(Next::Idle)
    }

    /// The next delete asked for; done once the queue is dropped.
    async fn wait_for_work(&mut self, _stop: &CancellationToken) -> Next {
        match self.requests.recv().await {
            Some(first) => {
                self.batch.push(first);
                Next::Busy
            }
            None => Next::Done,
        }
    }
}

impl BatchDeleter {
    pub fn new(client: Client, url: String, requests: mpsc::Receiver<DeleteRequest>) -> Self {
        Self { client, url, requests, batch: Vec::new() }
    }
}

//! The embedded queue: a SQLite table with SQS semantics. A receive makes
//! messages invisible for the visibility timeout and gives each a fresh
//! receipt; a message received `max_receives` times and still not deleted
//! moves to the dead-letter table instead of being delivered again.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{DeadLetter, DeadLetters, Delivery, JobQueue, QueueError, QueueStats, Receipt};

/// How often an idle long poll looks again when no send woke it (other
/// processes may share the database file).
const IDLE_POLL: Duration = Duration::from_millis(250);

pub struct EmbeddedQueue {
    pool: SqlitePool,
    visibility: Duration,
    max_receives: u32,
    sent: Notify,
}

impl EmbeddedQueue {
    pub fn new(pool: SqlitePool, visibility: Duration, max_receives: u32) -> Self {
        Self { pool, visibility, max_receives, sent: Notify::new() }
    }

    /// Moves exhausted messages to the dead letters, then claims up to `max`.
    async fn claim(&self, max: usize) -> Result<Vec<Delivery>, sqlx::Error> {
        let now = now_ms();
        let mut tx = crate::db::write_tx(&self.pool).await?;
        sqlx::query(
            "INSERT INTO queue_dead_letters (id, body, sent_at, receive_count, dead_at)
             SELECT id, body, sent_at, receive_count, ? FROM queue_messages WHERE visible_at <= ? AND receive_count >= ?",
        )
        .bind(now)
        .bind(now)
        .bind(self.max_receives)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM queue_messages WHERE visible_at <= ? AND receive_count >= ?")
            .bind(now)
            .bind(self.max_receives)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "UPDATE queue_messages
             SET receive_count = receive_count + 1, visible_at = ?, receipt = lower(hex(randomblob(16)))
             WHERE id IN (SELECT id FROM queue_messages WHERE visible_at <= ? ORDER BY id LIMIT ?)
             RETURNING id, body, receipt, receive_count, sent_at",
        )
        .bind(now + self.visibility.as_millis() as i64)
        .bind(now)
        .bind(max as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut deliveries: Vec<(i64, Delivery)> = rows
            .into_iter()
            .map(|r| {
                let delivery = Delivery {
                    body: r.get("body"),
                    receipt: Receipt(r.get("receipt")),
                    receive_count: r.get::<i64, _>("receive_count") as u32,
                    sent_at: chrono::DateTime::from_timestamp_millis(r.get("sent_at")).unwrap_or_default(),
                };
                (r.get("id"), delivery)
            })
            .collect();
        deliveries.sort_by_key(|(id, _)| *id);
        Ok(deliveries.into_iter().map(|(_, d)| d).collect())
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn unavailable(err: sqlx::Error) -> QueueError {
    QueueError::Unavailable(err.into())
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        let now = now_ms();
        sqlx::query("INSERT INTO queue_messages (body, sent_at, visible_at) VALUES (?, ?, ?)")
            .bind(body)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        self.sent.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_until(max, wait, &CancellationToken::new()).await
    }

    /// A claim is one transaction, never cut; between claims a stop ends
    /// the wait at once.
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let woken = self.sent.notified();
            let deliveries = self.claim(max).await.map_err(unavailable)?;
            let now = tokio::time::Instant::now();
            if !deliveries.is_empty() || now >= deadline || stop.is_cancelled() {
                return Ok(deliveries);
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::timeout(IDLE_POLL.min(deadline - now), woken) => {}
            }
        }
    }

    async fn delete(&self, receipt: &Receipt) -> Result<(), QueueError> {
        // As on SQS, deleting with an outdated receipt is not an error.
        sqlx::query("DELETE FROM queue_messages WHERE receipt = ?")
            .bind(&receipt.0)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn set_visibility(&self, receipt: &Receipt, timeout: Duration) -> Result<(), QueueError> {
        let visible_at = now_ms() + timeout.as_millis() as i64;
        let updated = sqlx::query("UPDATE queue_messages SET visible_at = ? WHERE receipt = ? AND visible_at > ?")
            .bind(visible_at)
            .bind(&receipt.0)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if updated.rows_affected() == 0 {
            return Err(QueueError::StaleReceipt);
        }
        if timeout.is_zero() {
            self.sent.notify_waiters();
        }
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM queue_messages WHERE visible_at <= ?) AS depth,
               (SELECT COUNT(*) FROM queue_messages WHERE visible_at > ?) AS in_flight,
               (SELECT COUNT(*) FROM queue_dead_letters) AS dead,
               (SELECT MIN(sent_at) FROM queue_messages) AS oldest",
        )
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        let oldest: Option<i64> = row.get("oldest");
        Ok(QueueStats {
            depth: row.get::<i64, _>("depth") as u64,
            in_flight: row.get::<i64, _>("in_flight") as u64,
            dead_letters: row.get::<i64, _>("dead") as u64,
            oldest_age_secs: Some(oldest.map_or(0, |t| ((now - t).max(0) / 1000) as u64)),
        })
    }

    fn max_receives(&self) -> u32 {
        self.max_receives
    }
}

#[async_trait]
impl DeadLetters for EmbeddedQueue {
    async fn list(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let rows = sqlx::query("SELECT id, body, receive_count, sent_at FROM queue_dead_letters ORDER BY id LIMIT ?")
            .bind(max as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                id: r.get::<i64, _>("id").to_string(),
                body: r.get("body"),
                receive_count: r.get::<i64, _>("receive_count") as u32,
                sent_at: chrono::DateTime::from_timestamp_millis(r.get("sent_at")).unwrap_or_default(),
            })
            .collect())
    }

    async fn redrive(&self, max: usize) -> Result<usize, QueueError> {
        let now = now_ms();
        let mut tx = crate::db::write_tx(&self.pool).await.map_err(unavailable)?;
        let chosen = "SELECT id FROM queue_dead_letters ORDER BY id LIMIT ?";
        let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO queue_messages (body, sent_at, visible_at)
             SELECT body, ?, ? FROM queue_dead_letters WHERE id IN ({chosen}) ORDER BY id"
        )))
        .bind(now)
        .bind(now)
        .bind(max as i64)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM queue_dead_letters WHERE id IN ({chosen})")))
            .bind(max as i64)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        self.sent.notify_waiters();
        Ok(moved.rows_affected() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::open_local;

    async fn queue(visibility_ms: u64, max_receives: u32) -> (tempfile::TempDir, EmbeddedQueue) {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::Settings { data_dir: dir.path().to_owned(), ..Default::default() };
        let pool = open_local(&settings).await.unwrap();
        (dir, EmbeddedQueue::new(pool, Duration::from_millis(visibility_ms), max_receives))
    }

    #[tokio::test]
    async fn a_received_message_is_hidden_until_its_visibility_times_out() {
        let (_dir, q) = queue(300, 5).await;
        q.send("a").await.unwrap();
        let first = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].body.as_str(), first[0].receive_count), ("a", 1));
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty(), "hidden while in flight");
        let again = q.receive(10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(again.len(), 1, "visible again after the timeout");
        assert_eq!(again[0].receive_count, 2);
        assert_ne!(again[0].receipt, first[0].receipt, "each receive gets a new receipt");
    }

    #[tokio::test]
    async fn delete_removes_and_release_makes_visible_at_once() {
        let (_dir, q) = queue(60_000, 5).await;
        q.send("a").await.unwrap();
        q.send("b").await.unwrap();
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(got.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), ["a", "b"], "in send order");
        q.delete(&got[0].receipt).await.unwrap();
        q.set_visibility(&got[1].receipt, Duration::ZERO).await.unwrap();
        let again = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].body, "b");
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.depth, stats.in_flight), (0, 1));
    }

    #[tokio::test]
    async fn heartbeat_extends_visibility_and_stale_receipts_are_refused() {
        let (_dir, q) = queue(400, 5).await;
        q.send("a").await.unwrap();
        let got = q.receive(1, Duration::ZERO).await.unwrap();
        q.set_visibility(&got[0].receipt, Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(q.receive(1, Duration::ZERO).await.unwrap().is_empty(), "heartbeat kept it hidden");
        let stale = Receipt("nope".into());
        assert!(matches!(q.set_visibility(&stale, Duration::ZERO).await, Err(QueueError::StaleReceipt)));
    }

    #[tokio::test]
    async fn a_long_poll_wakes_on_send() {
        let (_dir, q) = queue(60_000, 5).await;
        let q = std::sync::Arc::new(q);
        let sender = q.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sender.send("late").await.unwrap();
        });
        let got = q.receive(10, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.len(), 1);
    }

    #[tokio::test]
    async fn messages_go_to_dead_letters_after_max_receives() {
        let (_dir, q) = queue(60_000, 2).await;
        q.send("poison").await.unwrap();
        for n in 1..=2 {
            let got = q.receive(1, Duration::ZERO).await.unwrap();
            assert_eq!(got[0].receive_count, n);
            q.set_visibility(&got[0].receipt, Duration::ZERO).await.unwrap();
        }
        assert!(q.receive(1, Duration::ZERO).await.unwrap().is_empty());
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.depth, stats.in_flight, stats.dead_letters), (0, 0, 1));
    }
}

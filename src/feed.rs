//! The change feed, pushed: one reader per host follows `imaged_events`
//! and hands each change to every open `/api/events` stream through a
//! broadcast, so the shared database's load does not grow with the tabs
//! a host has open.
//!
//! On MySQL an auto-increment `seq` is taken at insert and seen at commit:
//! a transaction holding seq 10 may commit after the one holding 11. The
//! reader therefore publishes changes in `seq` order only: it stops at a
//! hole and reads past its last change again, and steps over the hole only
//! once it has waited [`HOLE_WAIT`] for it (a rolled-back insert leaves one
//! for good). So a stream's `id` is a cursor: everything up to it was sent.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use tokio::{sync::broadcast, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    db::{Event, MetaRepo},
    workers::{Next, Worker, rest},
};

/// How often the reader looks for changes.
const POLL: Duration = Duration::from_millis(250);
/// Changes read per query.
const BATCH: u32 = 1000;
/// How long a hole in `seq` is waited for before it is stepped over.
const HOLE_WAIT: Duration = Duration::from_secs(3);
/// Changes a stream may fall behind by before it is told to start again.
const BACKLOG: usize = 4096;

/// What the reader has published, for the streams to follow.
#[derive(Clone)]
pub struct Feed(Arc<Shared>);

struct Shared {
    sender: broadcast::Sender<Event>,
    /// The last `seq` sent; changed with each send, under its lock.
    published: Mutex<i64>,
}

impl Default for Feed {
    fn default() -> Self {
        Self(Arc::new(Shared { sender: broadcast::channel(BACKLOG).0, published: Mutex::new(0) }))
    }
}

impl Feed {
    fn published(&self) -> MutexGuard<'_, i64> {
        self.0.published.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver of every change published after the `seq` returned with it.
    pub fn subscribe(&self) -> (broadcast::Receiver<Event>, i64) {
        let published = self.published();
        (self.0.sender.subscribe(), *published)
    }

    fn publish(&self, events: &[Event]) {
        let mut published = self.published();
        for event in events {
            *published = event.seq;
            // No receiver is no error: nobody is watching.
            let _ = self.0.sender.send(event.clone());
        }
    }

    /// The worker that reads the feed on this host.
    pub fn reader(&self, meta: Arc<dyn MetaRepo>) -> FeedReader {
        FeedReader { feed: self.clone(), meta, started: false, hole: None }
    }
}

/// Reads the changes after the last one published, every [`POLL`].
pub struct FeedReader {
    feed: Feed,
    meta: Arc<dyn MetaRepo>,
    /// Whether the first read, which starts at the newest change, was made.
    started: bool,
    hole: Option<Hole>,
}

/// A `seq` missing after the last one published, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    at: i64,
    since: Instant,
}

#[async_trait]
impl Worker for FeedReader {
    fn name(&self) -> String {
        "change feed".into()
    }

    /// One query, bounded by the pool's timeouts.
    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_secs(60))
    }

    async fn work(&mut self, _stop: &CancellationToken) -> anyhow::Result<Next> {
        if !self.started {
            *self.feed.published() = self.meta.event_span().await?.map_or(0, |(_, last)| last);
            self.started = true;
        }
        // The reader alone publishes: what it published last is where it is.
        let last = *self.feed.published();
        let events = self.meta.events(last, BATCH).await?;
        let ready = ready(last, &events, &mut self.hole, Instant::now());
        self.feed.publish(&events[..ready]);
        Ok(if ready == BATCH as usize { Next::Busy } else { Next::Idle })
    }

    async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next {
        rest(stop, POLL).await
    }
}

/// How many of `events`, read after `last` in `seq` order, may be
/// published now: the unbroken run after `last`, and past a hole only once
/// it has been waited for [`HOLE_WAIT`].
fn ready(last: i64, events: &[Event], hole: &mut Option<Hole>, now: Instant) -> usize {
    let mut expected = last + 1;
    for (i, event) in events.iter().enumerate() {
        if event.seq != expected {
            match hole {
                Some(h) if h.at == expected && now.duration_since(h.since) >= HOLE_WAIT => {}
                Some(h) if h.at == expected => return i,
                _ => {
                    *hole = Some(Hole { at: expected, since: now });
                    return i;
                }
            }
        }
        expected = event.seq + 1;
    }
    *hole = None;
    events.len()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::*;

    fn events(seqs: &[i64]) -> Vec<Event> {
        let at = NaiveDateTime::default();
        seqs.iter().map(|&seq| Event { seq, image_id: seq, status: "done".into(), at }).collect()
    }

    #[test]
    fn an_unbroken_run_goes_out_whole() {
        let mut hole = None;
        assert_eq!(ready(10, &events(&[11, 12, 13]), &mut hole, Instant::now()), 3);
        assert_eq!(hole, None);
        assert_eq!(ready(10, &[], &mut hole, Instant::now()), 0);
    }

    #[test]
    fn a_hole_holds_back_what_follows_until_it_fills_or_has_waited() {
        let start = Instant::now();
        let mut hole = None;
        // 12 is not committed yet: 11 goes, 13 waits.
        assert_eq!(ready(10, &events(&[11, 13]), &mut hole, start), 1);
        assert_eq!(hole, Some(Hole { at: 12, since: start }));
        // Read again after 11: still missing, not waited long enough.
        let later = start + HOLE_WAIT - Duration::from_millis(1);
        assert_eq!(ready(11, &events(&[13, 14]), &mut hole, later), 0);
        assert_eq!(hole, Some(Hole { at: 12, since: start }), "the wait runs from when the hole was first seen");
        // 12 commits: all go, and the hole is forgotten.
        assert_eq!(ready(11, &events(&[12, 13, 14]), &mut hole, later), 3);
        assert_eq!(hole, None);
    }

    #[test]
    fn a_hole_that_never_fills_is_stepped_over_once_waited_for() {
        let start = Instant::now();
        let mut hole = None;
        assert_eq!(ready(10, &events(&[12, 13, 15]), &mut hole, start), 0);
        // Waited: 12 and 13 go; 14 is a new hole, with its own wait.
        let waited = start + HOLE_WAIT;
        assert_eq!(ready(10, &events(&[12, 13, 15]), &mut hole, waited), 2);
        assert_eq!(hole, Some(Hole { at: 14, since: waited }));
        assert_eq!(ready(13, &events(&[15]), &mut hole, waited + HOLE_WAIT), 1);
        assert_eq!(hole, None);
    }

    #[test]
    fn a_subscriber_gets_exactly_what_is_published_after_its_seq() {
        let feed = Feed::default();
        feed.publish(&events(&[1, 2]));
        let (mut rx, published) = feed.subscribe();
        assert_eq!(published, 2);
        feed.publish(&events(&[3]));
        assert_eq!(rx.try_recv().map(|e| e.seq), Ok(3));
        assert!(rx.try_recv().is_err(), "nothing before its seq, nothing twice");
    }
}

//! Upload bodies held to a pace: a body that sends nothing for
//! `http.body_idle_secs`, falls below `http.body_min_bytes_per_sec` on
//! average (after its first idle period), outlasts `http.body_deadline_secs`
//! or passes its byte limit is cut off. Then the request ends, and with it
//! what it held: its share of the upload budget, its spool file and a
//! direct upload's grant. So one stalled client cannot hold them.

use std::{cell::Cell, rc::Rc, time::Duration};

use actix_web::{HttpRequest, error::PayloadError, http::header::CONTENT_LENGTH};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use tokio::time::Instant;

use super::ApiError;
use crate::config::HttpSettings;

/// How long a body may take, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    idle: Duration,
    min_bytes_per_sec: u64,
    deadline: Duration,
}

impl Pace {
    pub fn new(http: &HttpSettings) -> Self {
        Self {
            idle: Duration::from_secs(http.body_idle_secs),
            min_bytes_per_sec: http.body_min_bytes_per_sec,
            deadline: Duration::from_secs(http.body_deadline_secs),
        }
    }

    /// The instant by which the next chunk must arrive after `received`
    /// bytes, and what was broken if it does not.
    fn next_by(&self, started: Instant, received: u64) -> (Instant, Stop) {
        let now = Instant::now();
        let mut due = (now + self.idle, Stop::Idle(self.idle));
        let deadline = started + self.deadline;
        if deadline < due.0 {
            due = (deadline, Stop::Deadline(self.deadline));
        }
        if self.min_bytes_per_sec > 0 && received > 0 {
            // The first idle period is free: a connection warms up (and
            // before the first byte, the idle limit is the one broken).
            let earned = Duration::from_secs_f64(received as f64 / self.min_bytes_per_sec as f64);
            let slow = started + self.idle + earned;
            if slow < due.0 {
                due = (slow, Stop::Slow(self.min_bytes_per_sec));
            }
        }
        due
    }
}

/// Why a body was cut off.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Idle(Duration),
    Slow(u64),
    Deadline(Duration),
    TooLarge(usize),
}

impl From<Stop> for ApiError {
    fn from(stop: Stop) -> Self {
        let reason = match stop {
            Stop::Idle(idle) => format!("the body stalled: nothing for {} s (http.body_idle_secs)", idle.as_secs()),
            Stop::Slow(rate) => {
                format!("the body came slower than {rate} bytes per second (http.body_min_bytes_per_sec)")
            }
            Stop::Deadline(all) => format!("the body took longer than {} s (http.body_deadline_secs)", all.as_secs()),
            Stop::TooLarge(limit) => return ApiError::TooLarge(limit),
        };
        ApiError::Timeout(reason)
    }
}

/// A request body read at [`Pace`], at most `limit` bytes of content and
/// `framing` bytes of form around it.
pub struct Paced {
    stop: Rc<Cell<Option<Stop>>>,
}

impl Paced {
    /// Refuses at once a body whose declared length passes the limit;
    /// else the body as a stream that ends in an error when it breaks the
    /// pace or the limit ([`Paced::refusal`] then says which).
    pub fn start<S>(
        request: &HttpRequest,
        body: S,
        pace: Pace,
        limit: usize,
        framing: usize,
    ) -> Result<(Self, impl Stream<Item = Result<Bytes, PayloadError>> + 'static), ApiError>
    where
        S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
    {
        let most = (limit + framing) as u64;
        let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > most) {
            return Err(ApiError::TooLarge(limit));
        }
        let stop = Rc::new(Cell::new(None));
        let started = Instant::now();
        let state = (body, 0u64, stop.clone());
        let paced = stream::unfold(state, move |(mut body, received, stop)| async move {
            if stop.get().is_some() {
                return None;
            }
            let (due, late) = pace.next_by(started, received);
            let (item, received) = match tokio::time::timeout_at(due, body.next()).await {
                Ok(None) => return None,
                Ok(Some(Ok(chunk))) if received + chunk.len() as u64 > most => {
                    stop.set(Some(Stop::TooLarge(limit)));
                    (Err(PayloadError::Overflow), received)
                }
                Ok(Some(Ok(chunk))) => {
                    let received = received + chunk.len() as u64;
                    (Ok(chunk), received)
                }
                Ok(Some(Err(err))) => (Err(err), received),
                Err(_) => {
                    stop.set(Some(late));
                    (Err(PayloadError::Io(std::io::ErrorKind::TimedOut.into())), received)
                }
            };
            Some((item, (body, received, stop)))
        })
        // A multipart reader may ask again after the end.
        .fuse();
        Ok((Self { stop }, paced))
    }

    /// Why the body was cut off, if it was.
    pub fn refusal(&self) -> Option<ApiError> {
        self.stop.get().map(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace() -> Pace {
        Pace { idle: Duration::from_secs(10), min_bytes_per_sec: 1000, deadline: Duration::from_secs(100) }
    }

    #[test]
    fn the_nearest_limit_decides_when_the_next_chunk_is_due() {
        let now = Instant::now();
        // Fresh: the idle period (the rate's grace ends with it).
        let (due, stop) = pace().next_by(now, 0);
        assert!(matches!(stop, Stop::Idle(_)), "{stop:?}");
        assert!(due <= Instant::now() + Duration::from_secs(10));
        // 20 s in with 5 kB: 5 s of credit after the grace, long gone.
        let (due, stop) = pace().next_by(now - Duration::from_secs(20), 5_000);
        assert!(matches!(stop, Stop::Slow(1000)), "{stop:?}");
        assert!(due < Instant::now());
        // 95 s in at a good rate: the deadline comes first.
        let (_, stop) = pace().next_by(now - Duration::from_secs(95), 1_000_000);
        assert!(matches!(stop, Stop::Deadline(_)), "{stop:?}");
    }
}

//! `GET /api/events`: changes of images' states as server-sent events,
//! from this host's [`crate::feed::Feed`]; no stream queries the database once open.
//!
//! - `event: image`, `id:` its `seq`, `data: {"image_id", "status", "at"}`
//!   (`status` is `pending`, `processing`, `done`, `failed` or `deleted`);
//! - `event: ready` first on a new stream, with the `id` it starts after;
//! - `event: reset` when what was missed cannot be sent (a `Last-Event-ID`
//!   the feed no longer holds, or a client too slow to keep up): read the
//!   list again.
//!
//! A reconnecting `EventSource` sends `Last-Event-ID` and is sent what it
//! missed. Streams hold a permit of `http.max_event_streams`, and end on
//! shutdown and after [`LIFETIME`] (the browser reconnects), so that no
//! client holds one for good.

use std::{convert::Infallible, time::Duration};

use actix_web::{HttpRequest, Responder, web};
use actix_web_lab::sse::{self, Sse};
use futures_util::{StreamExt, stream};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, broadcast::error::RecvError};

use super::{ApiError, AppState};
use crate::{
    db::{Event, MetaRepo},
    telemetry::{EVENT_STREAMS, EVENT_STREAMS_REFUSED_TOTAL},
};

/// A comment this often keeps proxies from closing a quiet stream, and
/// finds clients that went away.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How soon a browser reconnects after a stream ends.
const RETRY: Duration = Duration::from_secs(2);
/// A stream ends after this long, and its browser reconnects.
const LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The most changes sent to catch a stream up; beyond, `reset`.
const REPLAY_MAX: u32 = 1000;

/// The stream of changes.
#[utoipa::path(
    get,
    path = "/events",
    tag = "image",
    params(("Last-Event-ID" = Option<i64>, Header, description = "The `id` of the last event received: what followed it is sent first")),
    responses(
        (status = 200, description = "Server-sent events: `image`, `ready`, `reset`", content_type = "text/event-stream", body = String),
        (status = 400, description = "A `Last-Event-ID` that is not an id"),
        (status = 503, description = "This host has `http.max_event_streams` open; try again after `Retry-After`"),
    )
)]
pub async fn events(state: web::Data<AppState>, req: HttpRequest) -> Result<impl Responder, ApiError> {
    let after = last_event_id(&req)?;
    let Ok(permit) = state.event_streams.clone().try_acquire_owned() else {
        metrics::counter!(EVENT_STREAMS_REFUSED_TOTAL).increment(1);
        return Err(ApiError::Busy("this host has as many event streams open as it serves; try again later"));
    };
    let open = Open::new(permit);
    let (receiver, published) = state.feed.subscribe();
    let first = match after {
        None => vec![ready(published)],
        Some(after) if after < published => replay(state.backends.meta.as_ref(), after, published).await?,
        Some(_) => vec![],
    };
    let through = after.map_or(published, |after| after.max(published));
    let live = stream::unfold(
        (receiver, through, state.feed.clone(), open),
        |(mut receiver, through, feed, open)| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.seq <= through => continue,
                    Ok(event) => return Some((change(&event), (receiver, event.seq, feed, open))),
                    // Too slow for the broadcast: start again from now.
                    Err(RecvError::Lagged(_)) => {
                        let (receiver, published) = feed.subscribe();
                        return Some((reset(published), (receiver, published, feed, open)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let draining = state.draining.clone();
    let end = async move {
        tokio::select! {
            _ = draining.cancelled() => {}
            _ = tokio::time::sleep(LIFETIME) => {}
        }
    };
    let events = stream::iter(first).chain(live).take_until(end).map(Ok::<_, Infallible>);
    Ok(Sse::from_stream(events)
        .with_keep_alive(KEEP_ALIVE)
        .with_retry_duration(RETRY)
        .customize()
        // Nor buffered by a proxy (nginx).
        .insert_header(("X-Accel-Buffering", "no")))
}

fn last_event_id(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get("Last-Event-ID") else { return Ok(None) };
    let id = value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|id| *id >= 0);
    id.map(Some).ok_or_else(|| ApiError::BadRequest("Last-Event-ID is not the id of an event imaged sent".into()))
}

/// What followed `after`, up to `published`, from the feed's table; a
/// `reset` when it no longer holds all of it, or it is too much.
async fn replay(meta: &dyn MetaRepo, after: i64, published: i64) -> Result<Vec<sse::Event>, ApiError> {
    let held = meta.event_span().await?.is_some_and(|(first, _)| first <= after + 1);
    if !held || published - after > i64::from(REPLAY_MAX) {
        return Ok(vec![reset(published)]);
    }
    let missed = meta.events(after, REPLAY_MAX).await?;
    Ok(missed.iter().take_while(|event| event.seq <= published).map(change).collect())
}

fn change(event: &Event) -> sse::Event {
    let data = json!({ "image_id": event.image_id, "status": event.status, "at": event.at.and_utc() });
    sse::Data::new(data.to_string()).event("image").id(event.seq.to_string()).into()
}

fn ready(published: i64) -> sse::Event {
    sse::Data::new("{}").event("ready").id(published.to_string()).into()
}

fn reset(published: i64) -> sse::Event {
    sse::Data::new("{}").event("reset").id(published.to_string()).into()
}

/// An open stream: its permit, and its place in the gauge.
struct Open {
    _permit: OwnedSemaphorePermit,
}

impl Open {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!(EVENT_STREAMS).increment(1.0);
        Self { _permit: permit }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!(EVENT_STREAMS).decrement(1.0);
    }
}

//! `/api/events` read as a browser's `EventSource` reads it.

use std::time::Duration;

use serde_json::Value;

use super::TestApp;

/// One event of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub event: String,
    pub id: Option<i64>,
    pub data: Value,
}

pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl TestApp {
    /// `GET /api/events`, with `Last-Event-ID` when given.
    pub async fn events(&self, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url("/api/events"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        request.send().await.unwrap()
    }

    /// A stream that must open.
    pub async fn follow(&self, last_event_id: Option<i64>) -> EventStream {
        let response = self.events(last_event_id.map(|id| id.to_string()).as_deref()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream { response, buffer: String::new() }
    }
}

impl EventStream {
    /// The next event (comments and `retry` skipped); `None` when the
    /// stream ends. Panics when nothing comes for 30 s: a keep-alive comes
    /// every 15 s.
    pub async fn next(&mut self) -> Option<Sent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(sent) = parse(&block) {
                    return Some(sent);
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("the stream sends something within 30 s")
                .expect("the stream reads");
            self.buffer.push_str(std::str::from_utf8(&chunk?).expect("UTF-8"));
        }
    }

    /// Events up to and including the first for which `last` holds.
    pub async fn until(&mut self, mut last: impl FnMut(&Sent) -> bool) -> Vec<Sent> {
        let mut seen = Vec::new();
        loop {
            let sent = self.next().await.unwrap_or_else(|| panic!("the stream ended after {seen:?}"));
            let done = last(&sent);
            seen.push(sent);
            if done {
                return seen;
            }
        }
    }
}

fn parse(block: &str) -> Option<Sent> {
    let (mut event, mut id, mut data) = ("message".to_owned(), None, None::<String>);
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_owned(),
            "id" => id = Some(value.parse().expect("a numeric id")),
            "data" => data = Some(data.map_or(value.to_owned(), |d| d + "\n" + value)),
            _ => {} // a comment, or retry
        }
    }
    let data = serde_json::from_str(&data?).expect("JSON data");
    Some(Sent { event, id, data })
}

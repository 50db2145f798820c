//! A request id on every request: the client's own `X-Request-Id` when it
//! is a plain token (a proxy's, so logs line up across hops), else a new
//! one. It is returned in the response and carried by the request's
//! tracing span, so every log line of a request can be found by it.
//!
//! The span names the route pattern the request matches, never its path:
//! a path can carry a secret (a direct upload's grant). The pattern is
//! found once, here, and kept in the request for the metrics' labels.

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};
use tracing::Instrument;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The route pattern a request matches.
struct MatchedRoute(String);

const UNMATCHED: &str = "unmatched";

/// The route pattern [`assign`] found for `req` (`unmatched` for none).
pub fn route(req: &ServiceRequest) -> String {
    req.extensions().get::<MatchedRoute>().map_or_else(|| UNMATCHED.to_owned(), |r| r.0.clone())
}

/// The id of the request being answered, for error bodies that point to
/// the log instead of telling internals.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let given = req.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|id| plain(id));
    let id = given.map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    // Matched on the decoded path, as the router matches it.
    let route = req.resource_map().match_pattern(req.match_info().as_str()).unwrap_or_else(|| UNMATCHED.into());
    let span = tracing::info_span!("request", id = %id, method = %req.method(), route);
    req.extensions_mut().insert(MatchedRoute(route));
    let mut response = CURRENT.scope(id.clone(), next.call(req).instrument(span.clone())).await?;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

/// At most 64 letters, digits, dots, dashes and underscores: safe to log
/// and to echo.
fn plain(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn only_plain_tokens_are_taken_from_clients() {
        assert!(plain("3f2c1a") && plain("lb-1_abc.9"));
        assert!(!plain("") && !plain("a b") && !plain("a=b") && !plain("a\nb") && !plain(&"x".repeat(65)));
    }
}

//! Optional bearer tokens for the routes that change something, hand out
//! upload URLs or list subscribers. Off unless `http.api_tokens` or
//! `http.api_tokens_secret` give some: CloudX's API is open, and its
//! clients send no token. Other reads stay open either way.
//!
//! The check wraps the guarded routes themselves ([`guarded`]), so it runs
//! once the router has matched one, whatever spelling of the path led
//! there (`/api/image/upload%5Furl` is the upload URL route too).

use actix_web::{
    Error, ResponseError, Route,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::AUTHORIZATION,
    middleware::{Next, from_fn},
    web,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};

/// The accepted tokens, kept only as digests.
#[derive(Default)]
pub struct ApiTokens(Vec<Vec<u8>>);

impl ApiTokens {
    /// Comma-separated tokens; blanks are ignored.
    pub fn parse(text: &SecretString) -> Self {
        let digests = text.expose_secret().split(',').map(str::trim).filter(|t| !t.is_empty()).map(digest).collect();
        Self(digests)
    }

    pub fn extend(&mut self, more: Self) {
        self.0.extend(more.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Comparing digests tells nothing of a token by its timing.
    fn allows(&self, token: &str) -> bool {
        let given = digest(token);
        self.0.contains(&given)
    }
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The route, answering only requests that carry one of the tokens (when
/// there are any).
pub fn guarded(route: Route) -> Route {
    route.wrap(from_fn(require))
}

async fn require(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let refused = req.app_data::<web::Data<AppState>>().is_some_and(|state| {
        let tokens = &state.api_tokens;
        let given = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
        !tokens.is_empty() && !given.is_some_and(|token| tokens.allows(token))
    });
    if refused {
        let response = ApiError::Unauthorized.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// The token of an `Authorization: Bearer <token>` header; the scheme's
/// name is case-insensitive (RFC 7235).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_split_trimmed_and_matched_whole() {
        let tokens = ApiTokens::parse(&SecretString::from(" alpha , beta,,"));
        assert!(tokens.allows("alpha") && tokens.allows("beta"));
        assert!(!tokens.allows("alph") && !tokens.allows("") && !tokens.allows("alpha,beta"));
        assert!(ApiTokens::parse(&SecretString::from(" , ")).is_empty());
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for header in ["Bearer t0k", "bearer t0k", "BEARER  t0k ", " Bearer t0k"] {
            assert_eq!(bearer(header), Some("t0k"), "{header:?}");
        }
        assert_eq!(bearer("Basic t0k"), None);
        assert_eq!(bearer("Bearert0k"), None);
    }
}

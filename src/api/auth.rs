//! Optional bearer tokens for the routes that change something (POST,
//! PUT, PATCH, DELETE, and the upload URLs). Off unless `http.api_tokens` or
//! `http.api_tokens_secret` give some: CloudX's API is open, and its
//! clients send no token. Reads stay open either way.

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header::AUTHORIZATION},
    middleware::Next,
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

/// Whether a request needs a token: it changes something, or asks for an
/// upload URL. A direct upload carries its own signed grant instead.
fn guarded(method: &Method, path: &str) -> bool {
    if path.starts_with("/api/image/direct/") {
        return false;
    }
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method) || path == "/api/image/upload_url"
}

pub async fn require(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let refused = req.app_data::<web::Data<AppState>>().is_some_and(|state| {
        let tokens = &state.api_tokens;
        if tokens.is_empty() || !guarded(req.method(), req.path()) {
            return false;
        }
        let bearer =
            req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        !bearer.is_some_and(|token| tokens.allows(token.trim()))
    });
    if refused {
        let response = ApiError::Unauthorized.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
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
}

//! Errors → HTTP, decided in one place. Bodies and texts follow CloudX:
//! JSON strings for its resource errors, problem+json for malformed
//! requests, and the raw text `Image is not found!` on the file route.

use actix_web::{
    HttpResponse, ResponseError,
    http::{
        StatusCode,
        header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE},
    },
};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_id;
use crate::{db::DbError, images::LifecycleError, notify::NotifyError, queue::QueueError, storage::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Image not found!")]
    ImageNotFound,
    #[error("Image is not found!")]
    FileNotFound,
    #[error("Thumbnail not found!")]
    ThumbnailNotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
    )]
    NoRoute,
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("upload is larger than {0} bytes")]
    TooLarge(usize),
    #[error("Invalid e-mail address!")]
    InvalidEmail,
    #[error("Subscription is not found!")]
    SubscriptionNotFound,
    #[error("Subscription is still pending!")]
    SubscriptionPending,
    /// A backend could not be reached; the client may try again. What
    /// went wrong is in the log, under the request id the body gives.
    #[error("a backend is unavailable; try again later")]
    Unavailable,
    /// A mutating route without one of `http.api_tokens`.
    #[error("this route needs an API token: Authorization: Bearer <token>")]
    Unauthorized,
    /// Too much is in progress; the client may try again shortly.
    #[error("{0}")]
    Busy(&'static str),
    /// A request body that stalled, came too slowly or took too long.
    #[error("{0}")]
    Timeout(String),
    /// A direct-upload URL that is not one imaged issued, has expired, or
    /// was used already.
    #[error("{0}")]
    Forbidden(&'static str),
}

/// How long a client is asked to wait after a 503.
const RETRY_AFTER_SECS: &str = "5";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::ImageNotFound | Self::FileNotFound | Self::ThumbnailNotFound | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::SubscriptionNotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::InvalidEmail => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::SubscriptionPending => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable | Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = self.to_string();
        match self {
            // CloudX's text; as text, not CloudX's `image/*`, which no
            // client can render and no response may carry.
            Self::FileNotFound => HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(detail),
            Self::Unavailable | Self::Busy(_) => {
                let detail = match request_id::current() {
                    Some(id) => format!("{detail} (request {id})"),
                    None => detail,
                };
                let mut response = problem(status, &detail);
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
                response
            }
            Self::Unauthorized => {
                let mut response = problem(status, &detail);
                response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::BadRequest(_)
            | Self::NoRoute
            | Self::UnsupportedMedia(_)
            | Self::TooLarge(_)
            | Self::Timeout(_)
            | Self::Forbidden(_) => problem(status, &detail),
            _ => HttpResponse::build(status).json(detail),
        }
    }
}

/// An RFC 7807 body, as connexion writes it.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    detail: String,
    status: u16,
    title: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: String,
}

pub fn problem(status: StatusCode, detail: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("application/problem+json").json(Problem {
        detail: detail.to_owned(),
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or_default().to_owned(),
        kind: "about:blank".to_owned(),
    })
}

pub(super) fn unavailable(err: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "backend error");
    ApiError::Unavailable
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        unavailable(err)
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        unavailable(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(_) => Self::FileNotFound,
            other => unavailable(other),
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(err: LifecycleError) -> Self {
        match err {
            LifecycleError::Db(err) => err.into(),
            LifecycleError::Store(err) => err.into(),
            LifecycleError::Queue(err) => err.into(),
            LifecycleError::DeleteUnderWay(_) => Self::Busy("another request is deleting this image; try again"),
        }
    }
}

impl From<NotifyError> for ApiError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::NotFound => Self::SubscriptionNotFound,
            NotifyError::Pending => Self::SubscriptionPending,
            NotifyError::InvalidAddress => Self::InvalidEmail,
            other => unavailable(other),
        }
    }
}

/// The default service: unknown routes and ids that are not integers.
pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

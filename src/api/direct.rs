//! Direct uploads: `GET /api/image/upload_url` grants one upload of a
//! declared type and size that skips the multipart POST. On S3 it is a
//! presigned PUT to the bucket, and the bucket's event queues the job, so
//! large files never pass through imaged. On the file store it is a
//! signed, one-time `PUT /api/image/direct/{grant}` to imaged itself.

mod grant;

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, http::header::CONTENT_TYPE, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use grant::Grants;

use super::{
    ApiError, AppState,
    body::Paced,
    error::Problem,
    upload::{self, Uploaded},
};
use crate::{imaging::Kind, keys};

#[derive(Deserialize, IntoParams)]
pub struct UploadUrlQuery {
    /// The file's name; the object key keeps it, as uploads do.
    filename: String,
    /// One of image/jpeg, image/png, image/gif, image/webp, image/heic, image/avif.
    content_type: String,
    /// The file's exact size in bytes.
    size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UploadUrl {
    #[schema(example = "PUT")]
    method: &'static str,
    url: String,
    /// Headers the PUT must carry, exactly (browsers set Content-Length themselves).
    headers: BTreeMap<String, String>,
    #[schema(example = "images/5a8ef527-2608-4275-8e33-ed8f1f11647b-cat.jpg")]
    object_key: String,
    expires_in_secs: u64,
    /// Whether the PUT answers with the image's id (imaged's own URL) or
    /// the image appears once the bucket's event is processed (S3).
    direct_to_store: bool,
}

#[utoipa::path(get, path = "/image/upload_url", security(("bearer_token" = [])), tag = "image", params(UploadUrlQuery),
    responses((status = 200, body = UploadUrl),
        (status = 400, description = "a parameter is missing or empty", content((Problem = "application/problem+json"))),
        (status = 413, description = "size is above processing.max_upload_bytes", content((Problem = "application/problem+json"))),
        (status = 415, description = "content_type is not a supported image type", content((Problem = "application/problem+json")))))]
pub async fn upload_url(
    state: web::Data<AppState>,
    query: web::Query<UploadUrlQuery>,
) -> Result<HttpResponse, ApiError> {
    let UploadUrlQuery { filename, content_type, size } = query.into_inner();
    let Some(kind) = Kind::ALL.into_iter().find(|kind| kind.mime() == content_type) else {
        let expected = Kind::ALL.map(Kind::mime).join(", ");
        return Err(ApiError::UnsupportedMedia(format!("content_type must be one of {expected}")));
    };
    kind.readable().map_err(|e| ApiError::UnsupportedMedia(e.to_string()))?;
    if size == 0 {
        return Err(ApiError::BadRequest("size must be at least 1".into()));
    }
    if size > state.max_upload_bytes as u64 {
        return Err(ApiError::TooLarge(state.max_upload_bytes));
    }
    let object_key = keys::original_key(&filename);
    let expires_in = state.grants.lifetime();
    let presigned = state.backends.blobs.presign_put(&object_key, &content_type, size, expires_in).await?;
    let direct_to_store = presigned.is_some();
    let (url, headers) = match presigned {
        Some(put) => (put.url, put.headers.into_iter().collect()),
        None => {
            let grant = state.grants.issue(&object_key, &content_type, size);
            let headers = [("content-type".to_owned(), content_type), ("content-length".to_owned(), size.to_string())];
            (format!("{}/api/image/direct/{grant}", state.images.public_base()), headers.into())
        }
    };
    let expires_in_secs = expires_in.as_secs();
    Ok(HttpResponse::Ok().json(UploadUrl { method: "PUT", url, headers, object_key, expires_in_secs, direct_to_store }))
}

/// Receives a file store upload that an `upload_url` granted.
///
/// The body is the file, of the granted type and size; the grant is good
/// once.
#[utoipa::path(put, path = "/image/direct/{grant}", tag = "image", params(("grant" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Uploaded),
        (status = 400, description = "the body is not the granted size or type", content((Problem = "application/problem+json"))),
        (status = 403, description = "not a grant of this imaged, expired, or used already", content((Problem = "application/problem+json"))),
        (status = 408, description = "the body stalled, came too slowly or took too long (http.body_*); the grant can be used again", content((Problem = "application/problem+json"))),
        (status = 413, description = "the declared or sent body is larger than granted", content((Problem = "application/problem+json"))),
        (status = 415, description = "not a supported image; nothing stored", content((Problem = "application/problem+json"))),
        (status = 503, description = "a backend is unavailable; Retry-After says when to try again", content((Problem = "application/problem+json")))))]
pub async fn put(
    state: web::Data<AppState>,
    grant: web::Path<String>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let granted = state.grants.verify(&grant)?;
    let sent_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if sent_type != granted.content_type {
        return Err(ApiError::BadRequest(format!("Content-Type must be {}, as granted", granted.content_type)));
    }
    let (paced, body) = Paced::start(&request, body, state.pace, granted.size as usize, 0)?;
    let claim = state.grants.claim(&granted)?;
    let malformed = |err: actix_web::error::PayloadError| {
        tracing::debug!(error = %err, "unreadable upload body");
        ApiError::BadRequest("the upload body could not be read".into())
    };
    let file = upload::spool(Box::pin(body), &state, malformed).await.map_err(|err| paced.refusal().unwrap_or(err))?;
    if file.size as u64 != granted.size {
        return Err(ApiError::BadRequest(format!("the body must be {} bytes, as granted", granted.size)));
    }
    let kind = file.kind("the body")?;
    let id = state.images.accept(granted.object_key.clone(), &file.path, &granted.content_type, kind).await?;
    claim.keep();
    Ok(HttpResponse::Ok().json(Uploaded { id }))
}

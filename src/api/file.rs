//! The byte routes: the original as CloudX serves it, and thumbnails. Both
//! answer HEAD, conditional requests and single ranges (see [`Object`]).

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{Accept, Header},
    web,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, AppState, error::Problem, image::image_id, negotiate, object::Object, thumbnails};
use crate::{imaging::Format, storage::StoreError};

/// A variant never changes under a versioned URL: its version is that of
/// the original it was made from, and new bytes get a new one.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// An unversioned URL may be cached, but is checked each time.
const REVALIDATE: &str = "public, no-cache";

/// Downloads the original image.
///
/// With CloudX's headers: `image/<extension>` (when the bytes are of that
/// type) and an attachment named after the key; with an `ETag` and
/// `Last-Modified` for conditional requests, and single byte ranges.
#[utoipa::path(method(get, head), path = "/image/file/{image_id}", tag = "image", params(("image_id" = u64, Path)),
    responses((status = 200, description = "the uploaded bytes", content_type = "image/*"),
        (status = 206, description = "the one byte range asked for", content_type = "image/*"),
        (status = 304, description = "the copy named by If-None-Match or If-Modified-Since is current"),
        (status = 404, description = "Image is not found! (plain text); a problem document when the id is not an integer",
        content(("text/plain", example = "Image is not found!"), (Problem = "application/problem+json"))),
        (status = 412, description = "If-Match or If-Unmodified-Since does not hold"),
        (status = 416, description = "the range lies outside the file")))]
pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = state.backends.meta.image(image_id(&id)?).await?.ok_or(ApiError::FileNotFound)?;
    let object =
        Object { key: &row.object_key, content_type: None, cache_control: "no-cache", attachment: true, vary: None };
    Ok(object.send(&req, state.backends.blobs.as_ref()).await?)
}

#[derive(Deserialize, IntoParams)]
pub struct ThumbnailQuery {
    /// The version the thumbnails document gives; with it the answer may
    /// be cached for good.
    v: Option<String>,
    /// This format (`jpeg`, `webp`, `avif`), whatever the request accepts.
    format: Option<String>,
}

/// One thumbnail, in the format the request accepts best.
///
/// 404 until the job has made it.
/// Of the formats made (`processing.formats`), the one the `Accept` header
/// prefers: a format it names beats one it takes by a wildcard, and `*/*`
/// gets JPEG. `format` forces one. Cached for a year at the URL the
/// thumbnails document gives (it names the version); revalidated at any
/// other.
#[utoipa::path(method(get, head), path = "/image/{image_id}/thumbnail/{size}", tag = "thumbnails",
    params(("image_id" = u64, Path), ("size" = u32, Path, description = "one of processing.sizes"), ThumbnailQuery),
    responses((status = 200, description = "the thumbnail; `Vary: Accept` unless `format` chose it",
            content(("image/jpeg"), ("image/webp"), ("image/avif"))),
        (status = 206, description = "the one byte range asked for", content(("image/jpeg"), ("image/webp"), ("image/avif"))),
        (status = 304, description = "the copy named by If-None-Match or If-Modified-Since is current"),
        (status = 400, description = "`format` names no thumbnail format", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or not made in the `format` asked for); a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Thumbnail not found!")), (Problem = "application/problem+json"))),
        (status = 412, description = "If-Match or If-Unmodified-Since does not hold"),
        (status = 416, description = "the range lies outside the thumbnail")))]
pub async fn thumbnail(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<ThumbnailQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, size) = path.into_inner();
    let id = image_id(&id)?;
    let size: i64 = size.parse().map_err(|_| ApiError::NoRoute)?;
    let forced: Option<Format> = query
        .format
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|err| ApiError::BadRequest(format!("format: {err}")))?;
    let mut variants = state.backends.meta.variants(id).await?;
    variants.retain(|v| v.size == size);
    let format = forced.unwrap_or_else(|| {
        let made: Vec<Format> = variants.iter().map(|v| v.format).collect();
        negotiate::choose(Accept::parse(&req).ok().as_ref(), &made)
    });
    let variant = variants.iter().find(|v| v.format == format).ok_or(ApiError::ThumbnailNotFound)?;
    let job = state.backends.meta.job(id).await?;
    let current = job.as_ref().and_then(thumbnails::version);
    let versioned = query.v.is_some() && query.v == current;
    let cache_control = if versioned { IMMUTABLE } else { REVALIDATE };
    let object = Object {
        key: &variant.object_key,
        content_type: Some(format.mime()),
        cache_control,
        attachment: false,
        vary: forced.is_none().then_some("Accept"),
    };
    object.send(&req, state.backends.blobs.as_ref()).await.map_err(|err| match err {
        StoreError::NotFound(_) => ApiError::ThumbnailNotFound,
        other => other.into(),
    })
}

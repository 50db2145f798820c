//! `GET /api/image/{id}/thumbnails`: where an image's job stands.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{ApiError, AppState, error::Problem, image::image_id};
use crate::{
    db::{JobState, JobStatus, VariantRow},
    imaging::Format,
};

#[derive(Serialize, ToSchema)]
pub struct ThumbnailsDoc {
    id: i64,
    status: JobStatus,
    /// Why the job failed, when it did.
    error: Option<String>,
    /// The sniffed type of the original.
    #[schema(example = "image/jpeg")]
    content_type: Option<String>,
    thumbnails: Vec<ThumbnailJson>,
}

/// One size, in each format it was made in.
#[derive(Serialize, ToSchema)]
pub struct ThumbnailJson {
    size: i64,
    width: i64,
    height: i64,
    /// The JPEG's key and bytes (every size has one).
    object_key: String,
    object_size: i64,
    /// Where to get it, in the format the request accepts best: a URL that
    /// names the version, cached for good.
    #[schema(example = "/api/image/7/thumbnail/256?v=3f2a9c0d1e4b5a6f")]
    url: String,
    /// Each format it was made in, JPEG first.
    formats: Vec<FormatJson>,
}

/// One size in one format.
#[derive(Serialize, ToSchema)]
pub struct FormatJson {
    format: Format,
    #[schema(example = "image/webp")]
    content_type: &'static str,
    object_key: String,
    object_size: i64,
    /// Where to get it in this format, whatever the request accepts.
    #[schema(example = "/api/image/7/thumbnail/256?v=3f2a9c0d1e4b5a6f&format=webp")]
    url: String,
}

impl ThumbnailJson {
    /// The thumbnails of image `id`: one per size, of `variants` ordered
    /// by size and format (as [`crate::db::MetaRepo::variants`] gives them).
    fn all(id: i64, variants: Vec<VariantRow>, version: Option<&str>) -> Vec<Self> {
        let mut thumbnails: Vec<Self> = Vec::new();
        for v in variants {
            let format = FormatJson {
                format: v.format,
                content_type: v.format.mime(),
                object_key: v.object_key.clone(),
                object_size: v.object_size,
                url: url(id, v.size, version, Some(v.format)),
            };
            match thumbnails.last_mut() {
                Some(last) if last.size == v.size => last.formats.push(format),
                _ => thumbnails.push(Self {
                    size: v.size,
                    width: v.width,
                    height: v.height,
                    object_key: v.object_key,
                    object_size: v.object_size,
                    url: url(id, v.size, version, None),
                    formats: vec![format],
                }),
            }
        }
        thumbnails
    }
}

/// Where image `id`'s thumbnail of `size` is served: at `version` (cached
/// for good), in `format` (else the one the request accepts best).
pub fn url(id: i64, size: i64, version: Option<&str>, format: Option<Format>) -> String {
    let query: Vec<String> =
        [version.map(|v| format!("v={v}")), format.map(|f| format!("format={f}"))].into_iter().flatten().collect();
    let url = format!("/api/image/{id}/thumbnail/{size}");
    if query.is_empty() { url } else { format!("{url}?{}", query.join("&")) }
}

/// The version of a done job's variants: that of the original they were
/// made from (see [`crate::storage::BlobMeta::tag`]), so new bytes get a
/// new one. None while a job runs: the variants stored may be about to
/// change under their keys.
pub fn version(job: &JobState) -> Option<String> {
    let tag = job.source_tag.as_ref().filter(|_| job.status == JobStatus::Done)?;
    let digest = Sha256::digest(tag.as_bytes());
    Some(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

#[utoipa::path(get, path = "/image/{image_id}/thumbnails", tag = "thumbnails", params(("image_id" = u64, Path)),
    responses((status = 200, body = ThumbnailsDoc), (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Image not found!")), (Problem = "application/problem+json")))))]
pub async fn status(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = image_id(&id)?;
    state.backends.meta.image(id).await?.ok_or(ApiError::ImageNotFound)?;
    let job = state.backends.meta.job(id).await?;
    let version = job.as_ref().and_then(version);
    let (status, error, content_type) =
        job.map_or((JobStatus::Pending, None, None), |j| (j.status, j.error, j.content_type));
    let variants = state.backends.meta.variants(id).await?;
    let thumbnails = ThumbnailJson::all(id, variants, version.as_deref());
    Ok(HttpResponse::Ok().json(ThumbnailsDoc { id, status, error, content_type, thumbnails }))
}

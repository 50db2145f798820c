//! `GET /api/image/{id}/thumbnails`: where an image's job stands.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState, error::Problem, image::image_id};
use crate::db::{JobStatus, VariantRow};

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

#[derive(Serialize, ToSchema)]
pub struct ThumbnailJson {
    size: i64,
    width: i64,
    height: i64,
    object_key: String,
    object_size: i64,
}

impl From<VariantRow> for ThumbnailJson {
    fn from(v: VariantRow) -> Self {
        Self { size: v.size, width: v.width, height: v.height, object_key: v.object_key, object_size: v.object_size }
    }
}

#[utoipa::path(get, path = "/image/{image_id}/thumbnails", tag = "thumbnails", params(("image_id" = u64, Path)),
    responses((status = 200, body = ThumbnailsDoc), (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Image not found!")), (Problem = "application/problem+json")))))]
pub async fn status(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = image_id(&id)?;
    state.backends.meta.image(id).await?.ok_or(ApiError::ImageNotFound)?;
    let job = state.backends.meta.job(id).await?;
    let thumbnails = state.backends.meta.variants(id).await?.into_iter().map(Into::into).collect();
    let (status, error, content_type) =
        job.map_or((JobStatus::Pending, None, None), |j| (j.status, j.error, j.content_type));
    Ok(HttpResponse::Ok().json(ThumbnailsDoc { id, status, error, content_type, thumbnails }))
}

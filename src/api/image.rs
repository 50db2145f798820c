//! `/api/image` and `/api/image/{id}`: the CloudX metadata routes.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState, error::Problem};
use crate::db::ImageRow;

/// An `images` row as CloudX renders it (keys in its sorted order).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageJson {
    pub id: i64,
    #[schema(example = "2026-11-24T05:14:53Z")]
    pub last_modified: String,
    #[schema(example = "images/5a8ef527-2608-4275-8e33-ed8f1f11647b-t1.jpg")]
    pub object_key: String,
    pub object_size: i64,
    #[schema(example = "binary/octet-stream")]
    pub object_type: String,
}

impl From<ImageRow> for ImageJson {
    fn from(row: ImageRow) -> Self {
        Self {
            id: row.id,
            last_modified: row.last_modified.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            object_key: row.object_key,
            object_size: row.object_size,
            object_type: row.object_type,
        }
    }
}

/// The id from a path that matched `\d{1,18}`.
pub(super) fn image_id(path: &str) -> Result<i64, ApiError> {
    path.parse().map_err(|_| ApiError::NoRoute)
}

#[utoipa::path(get, path = "/image", tag = "image", responses((status = 200, body = [ImageJson])))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let images: Vec<ImageJson> = state.backends.meta.images().await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(images))
}

#[utoipa::path(get, path = "/image/{image_id}", tag = "image", params(("image_id" = u64, Path)),
    responses((status = 200, body = ImageJson), (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Image not found!")), (Problem = "application/problem+json")))))]
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = state.backends.meta.image(image_id(&id)?).await?.ok_or(ApiError::ImageNotFound)?;
    Ok(HttpResponse::Ok().json(ImageJson::from(row)))
}

/// Deletes the image: its row, original and thumbnails.
///
/// Of the requests that delete one image at once, one queues the CloudX
/// delete message and removes it (see [`crate::images::Images::delete`]);
/// the others wait and answer as it did.
#[utoipa::path(delete, path = "/image/{image_id}", security(("bearer_token" = [])), tag = "image", params(("image_id" = u64, Path)),
    responses((status = 200, content((String = "application/json", example = json!("Image deleted.")))),
        (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Image not found!")), (Problem = "application/problem+json")))))]
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !state.images.delete(image_id(&id)?).await? {
        return Err(ApiError::ImageNotFound);
    }
    Ok(HttpResponse::Ok().json("Image deleted."))
}

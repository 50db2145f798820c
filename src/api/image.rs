//! `/api/image` and `/api/image/{id}`: the CloudX metadata routes.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState, error::Problem};
use crate::{db::ImageRow, keys::variant_key, messages};

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
    let images: Vec<ImageJson> = state.meta.images().await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(images))
}

#[utoipa::path(get, path = "/image/{image_id}", tag = "image", params(("image_id" = u64, Path)),
    responses((status = 200, body = ImageJson), (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Image not found!")), (Problem = "application/problem+json")))))]
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = state.meta.image(image_id(&id)?).await?.ok_or(ApiError::ImageNotFound)?;
    Ok(HttpResponse::Ok().json(ImageJson::from(row)))
}

/// Queues the CloudX delete message, then removes the row, the original
/// and its thumbnails. In this order a queue that fails loses nothing (the
/// client's retry does it all); a removal that fails after the message is
/// finished by the delete job, which removes what its object no longer
/// has, or by the retry. The other order removed the image and then, with
/// the queue down, answered 503 to a retry that could only find 404: the
/// delete's message was lost.
#[utoipa::path(delete, path = "/image/{image_id}", tag = "image", params(("image_id" = u64, Path)),
    responses((status = 200, content((String = "application/json", example = json!("Image deleted.")))),
        (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Image not found!")), (Problem = "application/problem+json")))))]
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = state.meta.image(image_id(&id)?).await?.ok_or(ApiError::ImageNotFound)?;
    state.queue.send(&messages::delete_body(&row)).await?;
    if !remove(&state, &row).await? {
        return Err(ApiError::ImageNotFound);
    }
    Ok(HttpResponse::Ok().json("Image deleted."))
}

/// Removes the row, then the original and its variants (the recorded ones,
/// and those of every configured size, which a running job may be writing).
/// The key is journaled first, so blobs a crash or a store outage leaves
/// are removed by the reconciler: once the row is gone, the image is.
/// False when there was no row.
pub(super) async fn remove(state: &AppState, row: &ImageRow) -> Result<bool, ApiError> {
    state.meta.journal(&row.object_key).await?;
    let Some(variants) = state.meta.delete_image(row.id).await? else {
        return Ok(false);
    };
    let recorded = variants.into_iter().map(|v| v.object_key);
    let keys: BTreeSet<String> = recorded.chain(state.sizes.iter().map(|&s| variant_key(&row.object_key, s))).collect();
    let mut removed = state.blobs.delete(&row.object_key).await;
    for key in &keys {
        removed = removed.and(state.blobs.delete(key).await);
    }
    match removed {
        Ok(()) => state.meta.unjournal(&row.object_key).await?,
        Err(err) => tracing::warn!(error = %err, "blobs of a deleted image left for the reconciler"),
    }
    Ok(true)
}

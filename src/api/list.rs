//! `GET /api/images`: imaged's own list of images, a page at a time, each
//! with its job and the thumbnail a card shows: one request fills a page
//! of the gallery. CloudX's `GET /api/image` still answers every row.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState, image::ImageJson, thumbnails};
use crate::db::{JobStatus, Listed, PageQuery};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Images on the page, 1–200 (default 50).
    limit: Option<u32>,
    /// Where the page starts: the `next` of the page before; the newest
    /// images without it.
    cursor: Option<String>,
    /// Only images whose job has this status (`pending`, `processing`,
    /// `done`, `failed`).
    status: Option<String>,
    /// The size of thumbnail a card shows: the smallest made of at least
    /// this size (else the largest). Without it, the smallest.
    thumbnail: Option<u32>,
}

/// One page, newest first.
#[derive(Serialize, ToSchema)]
pub struct ImagePage {
    images: Vec<ListedJson>,
    /// The `cursor` of the next page; null on the last.
    #[schema(example = "9841")]
    next: Option<String>,
}

/// An image with where its job stands.
#[derive(Serialize, ToSchema)]
pub struct ListedJson {
    #[serde(flatten)]
    image: ImageJson,
    status: JobStatus,
    /// Why the job failed, when it did.
    error: Option<String>,
    /// The sniffed type of the original, once a job has read it.
    content_type: Option<String>,
    /// The thumbnail a card shows (see `thumbnail`), once made.
    thumbnail: Option<CardThumbnail>,
}

/// What an `<img>` needs: where, and how large (so the page does not move
/// when it loads).
#[derive(Serialize, ToSchema)]
pub struct CardThumbnail {
    /// In the format the request accepts best; versioned, cached for good.
    #[schema(example = "/api/image/7/thumbnail/128?v=3f2a9c0d1e4b5a6f")]
    url: String,
    width: i64,
    height: i64,
}

impl From<Listed> for ListedJson {
    fn from(listed: Listed) -> Self {
        let id = listed.image.id;
        let version = thumbnails::version(&listed.job);
        let thumbnail = listed.card.map(|v| CardThumbnail {
            url: thumbnails::url(id, v.size, version.as_deref(), None),
            width: v.width,
            height: v.height,
        });
        Self {
            image: listed.image.into(),
            status: listed.job.status,
            error: listed.job.error,
            content_type: listed.job.content_type,
            thumbnail,
        }
    }
}

fn status(name: &str) -> Result<JobStatus, ApiError> {
    JobStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| ApiError::BadRequest(format!("status: {name:?} is not pending, processing, done or failed")))
}

/// A page of images, newest first, each with its job and a card's thumbnail.
///
/// Paged by id (`cursor`), so a page neither skips nor repeats an image
/// while others are uploaded or deleted.
#[utoipa::path(get, path = "/images", tag = "image", params(ListQuery),
    responses((status = 200, body = ImagePage),
        (status = 400, description = "a limit, cursor or status that is not one", body = super::error::Problem,
            content_type = "application/problem+json")))]
pub async fn page(state: web::Data<AppState>, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: expected 1–{MAX_LIMIT}")));
    }
    let before = query
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("cursor: {c:?} is not one this API gave"))))
        .transpose()?;
    let status = query.status.as_deref().map(status).transpose()?;
    // One more than asked says whether there is a next page.
    let thumbnail = query.thumbnail.unwrap_or(0);
    let mut listed = state.backends.meta.page(&PageQuery { before, limit: limit + 1, status, thumbnail }).await?;
    let next = (listed.len() > limit as usize).then(|| {
        listed.truncate(limit as usize);
        listed.last().map(|l| l.image.id.to_string())
    });
    let images = listed.into_iter().map(ListedJson::from).collect();
    Ok(HttpResponse::Ok().json(ImagePage { images, next: next.flatten() }))
}

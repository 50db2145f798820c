//! `GET /api/stats`: the queue, the jobs, the stored bytes and how long
//! recent jobs took.

use std::{collections::BTreeMap, time::Duration};

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState};
use crate::{db::JobStatus, queue::QueueStats};

/// At most this many of the window's jobs are read for the percentiles.
const DURATION_SAMPLE: u32 = 10_000;

#[derive(Serialize, ToSchema)]
pub struct Stats {
    queue: QueueStats,
    /// Jobs by status, every status present.
    #[schema(example = json!({"done": 12, "failed": 1, "pending": 0, "processing": 2}))]
    jobs: BTreeMap<&'static str, i64>,
    images: ImagesStats,
    processing: ProcessingStats,
}

#[derive(Serialize, ToSchema)]
pub struct ImagesStats {
    count: i64,
    /// Bytes of the originals.
    total_bytes: i64,
    /// Bytes of their thumbnails.
    thumbnail_bytes: i64,
    /// Images by sniffed type (the stored `object_type` until a job has read the original).
    #[schema(example = json!({"image/jpeg": 12, "image/png": 3}))]
    by_type: BTreeMap<String, i64>,
    /// Original sizes in bytes; null without images.
    size: Option<SizeStats>,
}

#[derive(Serialize, ToSchema)]
pub struct SizeStats {
    min: i64,
    avg: f64,
    max: i64,
}

/// Jobs done within the window (the newest 10,000 of them): how long each
/// took from fetching the original to recording its thumbnails.
#[derive(Serialize, ToSchema)]
pub struct ProcessingStats {
    window_secs: u64,
    jobs: usize,
    /// Milliseconds; null when no job finished in the window.
    p50_ms: Option<i64>,
    p95_ms: Option<i64>,
    max_ms: Option<i64>,
}

#[utoipa::path(get, path = "/stats", tag = "health", responses((status = 200, body = Stats)))]
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let queue = state.backends.queue.stats().await?;
    let mut jobs: BTreeMap<&'static str, i64> = JobStatus::ALL.map(|s| (s.as_str(), 0)).into();
    for (status, count) in state.backends.meta.job_counts().await? {
        if let Some(slot) = jobs.get_mut(status.as_str()) {
            *slot = count;
        }
    }
    let images = state.backends.meta.image_stats().await?;
    let size = match (images.min_bytes, images.max_bytes) {
        (Some(min), Some(max)) if images.count > 0 => {
            Some(SizeStats { min, avg: images.total_bytes as f64 / images.count as f64, max })
        }
        _ => None,
    };
    let since = Utc::now().naive_utc() - state.stats_window;
    let durations = state.backends.meta.job_durations(since, DURATION_SAMPLE).await?;
    Ok(HttpResponse::Ok().json(Stats {
        queue,
        jobs,
        images: ImagesStats {
            count: images.count,
            total_bytes: images.total_bytes,
            thumbnail_bytes: images.thumbnail_bytes,
            by_type: images.by_type.into_iter().collect(),
            size,
        },
        processing: ProcessingStats::of(durations, state.stats_window),
    }))
}

impl ProcessingStats {
    fn of(mut durations: Vec<i64>, window: Duration) -> Self {
        durations.sort_unstable();
        Self {
            window_secs: window.as_secs(),
            jobs: durations.len(),
            p50_ms: percentile(&durations, 50),
            p95_ms: percentile(&durations, 95),
            max_ms: durations.last().copied(),
        }
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    let rank = (sorted.len() * p).div_ceil(100);
    sorted.get(rank.max(1) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
        let stats = ProcessingStats::of(vec![30, 10, 20], Duration::from_secs(60));
        assert_eq!((stats.jobs, stats.p50_ms, stats.p95_ms, stats.max_ms), (3, Some(20), Some(30), Some(30)));
    }
}

//! `MetaRepo`: the CloudX `images` table plus imaged's own job and variant
//! tables. The `images` table keeps exactly CloudX's columns (its users'
//! test suites check them); processing state lives beside it.

mod migrations;
mod mysql;
mod shared;
mod sqlite;
mod steps;

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use serde::Serialize;

use crate::{imaging::Format, storage::BlobMeta};

pub use migrations::Migrated;
pub use mysql::{MysqlRepo, connect as connect_mysql};
pub use sqlite::{SqliteRepo, migrate_local, open_local, write_tx};

/// Every database error is taken as transient: the job is retried.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct DbError(#[from] pub sqlx::Error);

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ImageRow {
    pub id: i64,
    pub object_key: String,
    pub object_type: String,
    pub last_modified: NaiveDateTime,
    pub object_size: i64,
}

#[derive(Debug, Clone)]
pub struct NewImage {
    pub object_key: String,
    pub object_type: String,
    pub last_modified: NaiveDateTime,
    pub object_size: i64,
}

impl NewImage {
    /// The row of the object stored under `key`, as the store reports it.
    pub fn stored(key: String, meta: BlobMeta) -> Self {
        Self {
            object_key: key,
            object_type: meta.content_type,
            last_modified: meta.last_modified,
            object_size: meta.size as i64,
        }
    }

    /// The row this becomes once inserted as `id`.
    pub fn into_row(self, id: i64) -> ImageRow {
        let Self { object_key, object_type, last_modified, object_size } = self;
        ImageRow { id, object_key, object_type, last_modified, object_size }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Processing,
    Done,
    Failed,
}

impl JobStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Processing, Self::Done, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "processing" => Self::Processing,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobState {
    pub status: JobStatus,
    pub error: Option<String>,
    /// The sniffed type of the original, e.g. `image/jpeg`.
    pub content_type: Option<String>,
    /// The tag of the bytes this state is about (see [`BlobMeta::tag`]): a
    /// done job is set back only by a state about other bytes than it was
    /// made from. Read from the job, it is the tag its variants came from.
    pub source_tag: Option<String>,
}

impl JobState {
    pub fn new(status: JobStatus) -> Self {
        Self { status, error: None, content_type: None, source_tag: None }
    }
}

/// One page of the image list (`MetaRepo::page`): newest first, ids below
/// `before` (keyset paging: no row is skipped or shown twice while rows
/// come and go), of one job status or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub before: Option<i64>,
    pub limit: u32,
    pub status: Option<JobStatus>,
    /// The card's thumbnail: the smallest JPEG of at least this size, else
    /// the largest (0: the smallest).
    pub thumbnail: u32,
}

/// An image as a page of the list shows it: its row, its job (pending when
/// it has none yet) and the JPEG variant its card shows, when made.
#[derive(Debug, Clone)]
pub struct Listed {
    pub image: ImageRow,
    pub job: JobState,
    pub card: Option<VariantRow>,
}

/// What a job made, for [`MetaRepo::complete_job`].
#[derive(Debug, Clone, Copy)]
pub struct Made<'a> {
    pub variants: &'a [VariantRow],
    /// The original the variants were made from, as the store reported it
    /// before the job read it.
    pub source: &'a BlobMeta,
    /// How long the job ran.
    pub took: Duration,
}

/// What an image's job last made, to tell whether it is made from the
/// bytes its key holds now.
struct MadeState {
    done: bool,
    made: Vec<(i64, Format)>,
    source_tag: Option<String>,
    object_size: i64,
    last_modified: NaiveDateTime,
}

impl MadeState {
    /// Done, with these sizes and formats, from these bytes. A job done
    /// before imaged recorded tags is judged by the row's size and time, as
    /// S3 reports them.
    fn covers(&self, source: &BlobMeta, wanted: &[(i64, Format)]) -> bool {
        let same_bytes = match &self.source_tag {
            Some(tag) => *tag == source.tag,
            None => self.object_size == source.size as i64 && self.last_modified == source.last_modified,
        };
        self.done && same_bytes && same_set(&self.made, wanted)
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VariantRow {
    pub size: i64,
    #[sqlx(try_from = "String")]
    pub format: Format,
    pub width: i64,
    pub height: i64,
    pub object_key: String,
    pub object_size: i64,
}

#[async_trait]
pub trait MetaRepo: Send + Sync {
    /// Inserts the `images` row and its pending job in one transaction, or
    /// returns the row its key already has: an object announced twice at
    /// once (the API and an S3 event, or two hosts) gets one row.
    async fn insert_image(&self, image: &NewImage, content_type: Option<&str>) -> Result<i64, DbError>;
    async fn image(&self, id: i64) -> Result<Option<ImageRow>, DbError>;
    /// The newest row for a key: an S3 key may have been re-uploaded.
    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError>;
    async fn images(&self) -> Result<Vec<ImageRow>, DbError>;
    /// One page of images with their jobs, in one query (see [`PageQuery`]).
    async fn page(&self, query: &PageQuery) -> Result<Vec<Listed>, DbError>;
    /// Removes the row with its job, variants and delete mark; returns the
    /// variants so their blobs can go too, or `None` when there was no such row.
    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError>;
    async fn job(&self, image_id: i64) -> Result<Option<JobState>, DbError>;
    /// Records the job's state while the image exists; never re-creates
    /// the state of a deleted image, and a job that is done stays done (a
    /// second delivery of it must not set it back) unless the state is
    /// about other bytes (`source_tag`) than it was made from.
    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError>;
    /// Whether the image's job is done with the variants `wanted` (sizes and
    /// formats) made from the bytes `source` describes: a second delivery
    /// then does nothing.
    async fn is_made(&self, image_id: i64, source: &BlobMeta, wanted: &[(i64, Format)]) -> Result<bool, DbError>;
    /// Replaces the variants and marks the job done, in one transaction,
    /// recording the source's tag (and its size and time on the row, when
    /// the key holds new bytes); unless the image was deleted meanwhile, or
    /// another delivery already made these variants from these bytes.
    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError>;
    /// Image `image_id`'s variants by size, then format as [`Format`]
    /// orders them (JPEG first).
    async fn variants(&self, image_id: i64) -> Result<Vec<VariantRow>, DbError>;
    /// Number of jobs in each status.
    async fn job_counts(&self) -> Result<Vec<(String, i64)>, DbError>;
    /// The originals and their thumbnails, counted and summed.
    async fn image_stats(&self) -> Result<ImageStats, DbError>;
    /// How long jobs done since `since` took, in milliseconds: the newest
    /// `limit` of them.
    async fn job_durations(&self, since: NaiveDateTime, limit: u32) -> Result<Vec<i64>, DbError>;
    /// Takes the sending of the upload's notice: true for the one delivery
    /// that is to send it (none has, or one gave it back). Never for a job
    /// that is not done.
    async fn claim_notice(&self, image_id: i64) -> Result<bool, DbError>;
    /// Gives a claimed notice back, when it could not be sent.
    async fn release_notice(&self, image_id: i64) -> Result<(), DbError>;
    /// Takes the sending of a notice that goes out once however many
    /// messages carry its text (a delete's: several requests, retries and
    /// redeliveries carry the same): true for the one caller to send it.
    async fn claim_sent_notice(&self, text: &str) -> Result<bool, DbError>;
    /// Gives a notice claimed by text back, when it could not be sent.
    async fn release_sent_notice(&self, text: &str) -> Result<(), DbError>;
    /// Forgets the notices claimed by text before `before`; how many.
    async fn prune_sent_notices(&self, before: NaiveDateTime) -> Result<u64, DbError>;
    /// Notes that an original (and its variants) may exist without a row
    /// until [`MetaRepo::unjournal`]: an upload about to store it, a delete
    /// about to remove it. Inserting the image's row also clears the entry.
    async fn journal(&self, key: &str) -> Result<(), DbError>;
    async fn unjournal(&self, key: &str) -> Result<(), DbError>;
    /// Keys journaled before `before`, oldest first: what a crash left.
    async fn journaled(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<String>, DbError>;
    /// Jobs pending or processing, not updated since `before`, oldest first.
    async fn stuck_jobs(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<StuckJob>, DbError>;
    /// Takes a stuck job to re-enqueue it: true if it was not updated since
    /// `seen` (so of several hosts, one re-enqueues it). A `processing` job
    /// counts one more requeue; a `pending` one was never started.
    async fn requeue_job(&self, image_id: i64, seen: NaiveDateTime) -> Result<bool, DbError>;
    /// Takes the deleting of an image: true for the one caller to delete
    /// it; false when it is gone, or while another's mark is newer than
    /// `stale_before` (a caller that died leaves its mark to go stale).
    async fn mark_delete(&self, image_id: i64, stale_before: NaiveDateTime) -> Result<bool, DbError>;
    /// Gives a delete's mark back, when the delete could not begin.
    async fn unmark_delete(&self, image_id: i64) -> Result<(), DbError>;
    /// Leaves a delete that began and could not finish: its mark is made
    /// stale at once, for the next request or the reconciler to take.
    async fn leave_delete(&self, image_id: i64) -> Result<(), DbError>;
    /// Images marked for deletion before `before` and still there: deletes
    /// that died on the way, oldest first.
    async fn stale_deletes(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<ImageRow>, DbError>;
    /// The change feed after `after`, in `seq` order, at most `limit`.
    async fn events(&self, after: i64, limit: u32) -> Result<Vec<Event>, DbError>;
    /// The first and last `seq` the change feed holds; `None` when empty.
    async fn event_span(&self) -> Result<Option<(i64, i64)>, DbError>;
    /// Forgets the changes made before `before`; how many.
    async fn prune_events(&self, before: NaiveDateTime) -> Result<u64, DbError>;
    async fn check(&self) -> Result<(), DbError>;
}

/// Sizes of the stored originals and thumbnails, for `/api/stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageStats {
    pub count: i64,
    pub total_bytes: i64,
    /// The smallest and the largest original; `None` without images.
    pub min_bytes: Option<i64>,
    pub max_bytes: Option<i64>,
    pub thumbnail_bytes: i64,
    /// Images by type: the sniffed one once a job has read the original,
    /// else the stored `object_type`.
    pub by_type: Vec<(String, i64)>,
}

/// A change of an image's state, as the change feed records it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Event {
    /// Its place in the feed: later changes have larger numbers (on MySQL
    /// a number may appear after larger ones: it is taken at insert, the
    /// row seen at commit).
    pub seq: i64,
    pub image_id: i64,
    /// `pending`, `processing`, `done`, `failed` or `deleted`.
    pub status: String,
    pub at: NaiveDateTime,
}

/// A job that stopped moving, with what re-enqueueing it needs.
#[derive(Debug, Clone)]
pub struct StuckJob {
    pub image: ImageRow,
    pub status: JobStatus,
    pub updated_at: NaiveDateTime,
    /// Times it was re-enqueued after it had started.
    pub requeues: u32,
}

/// What [`MetaRepo::complete_job`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Done,
    /// Done before, from the same bytes, with variants of the same sizes:
    /// nothing written.
    AlreadyDone,
    /// The image is gone: nothing written.
    Gone,
}

/// The SHA-256 of a text: how long keys and notices are indexed.
fn sha256(text: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).to_vec()
}

/// A job's duration as stored: whole milliseconds.
fn millis(took: Duration) -> i64 {
    i64::try_from(took.as_millis()).unwrap_or(i64::MAX)
}

/// Whether two sets of variants (sizes and formats) are the same.
pub fn same_set<T: Ord + Clone>(a: &[T], b: &[T]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

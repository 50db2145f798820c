//! An image's life, in one place: every change of an image's state, and
//! every removal of its blobs, is made here. The API handlers, the job
//! pipeline and the reconciler say what happened; this module decides what
//! that means for the row, the job, the blobs and the queue.
//!
//! ```text
//!             accept (API upload, direct PUT) ─┐   adopt (bucket event)
//!                                              ▼        │
//!   (none) ──────────────────────────────▶ pending ◀────┘
//!                                              │ start
//!                                              ▼
//!                      ┌──────────────── processing ──────────────┐
//!                      │ complete                          fail   │
//!                      ▼                                          ▼
//!                    done ◀── complete ── (new bytes: re-make)   failed
//!
//!   any state ── delete (API: mark, message, remove) ──▶ (none)
//!   any state ── forget (the object is gone from the store) ──▶ (none)
//!   repair: stuck jobs queued again or failed; originals without a row
//!   removed; deletes left half-done finished (the reconciler's pass)
//! ```
//!
//! A delete is taken by one request (its mark), then announced (the CloudX
//! message), then carried out: the row first, so once the row is gone the
//! image is, then the original and every variant. Keys are journaled while
//! blobs may exist without a row, so what a crash leaves, the reconciler
//! removes.

mod accept;
mod delete;
mod make;
mod repair;

use std::sync::Arc;

use crate::{
    config::ProcessingSettings,
    db::{DbError, ImageRow, MetaRepo},
    imaging::Format,
    messages,
    queue::{JobQueue, QueueError},
    storage::{BlobStore, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Another request is deleting the image and has not finished in time.
    #[error("image {0} is being deleted by another request")]
    DeleteUnderWay(i64),
}

/// The variants a job makes of an image: each size in each format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub sizes: Vec<u32>,
    pub formats: Vec<Format>,
}

impl Outputs {
    pub fn of(processing: &ProcessingSettings) -> Self {
        Self { sizes: processing.sizes.clone(), formats: processing.formats.clone() }
    }

    /// Every variant, as its size and format.
    pub fn each(&self) -> impl Iterator<Item = (u32, Format)> + '_ {
        self.sizes.iter().flat_map(|&size| self.formats.iter().map(move |&format| (size, format)))
    }
}

pub struct Images {
    meta: Arc<dyn MetaRepo>,
    blobs: Arc<dyn BlobStore>,
    queue: Arc<dyn JobQueue>,
    /// The variants jobs make now: a removal covers them even before a
    /// job records them.
    outputs: Outputs,
    /// Base of the download links in upload messages.
    public_base: String,
}

impl Images {
    pub fn new(
        meta: Arc<dyn MetaRepo>,
        blobs: Arc<dyn BlobStore>,
        queue: Arc<dyn JobQueue>,
        outputs: Outputs,
        public_base: String,
    ) -> Self {
        Self { meta, blobs, queue, outputs, public_base }
    }

    /// The base of every download link: configured, or found at start.
    pub fn public_base(&self) -> &str {
        &self.public_base
    }

    /// The CloudX upload message of an image, with its download link.
    fn upload_message(&self, image: &ImageRow) -> String {
        messages::upload_body(image, &format!("{}/api/image/file/{}", self.public_base, image.id))
    }
}

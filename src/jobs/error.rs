//! Every failure answers one question for the pipeline: try again later,
//! or give up with this reason.

use crate::{
    db::DbError,
    images::LifecycleError,
    imaging::{ImagingError, PanicError},
    notify::NotifyError,
    queue::QueueError,
    storage::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (network, database, throttling): redeliver after a backoff.
    #[error("transient: {0:#}")]
    Retry(anyhow::Error),
    /// Permanent (corrupt, unsupported, too large): mark failed, stop.
    /// `cause` is one word for the metrics, `reason` the sentence users read.
    #[error("{reason}")]
    Abort { cause: &'static str, reason: String },
    /// Shutting down before the job started: hand the message back.
    #[error("released unstarted on shutdown")]
    Released,
}

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { .. } => Self::Retry(err.into()),
            StoreError::NotFound(_) => Self::abort("missing", err),
            StoreError::BadKey(_) => Self::abort("bad_key", err),
        }
    }
}

impl From<DbError> for JobError {
    fn from(err: DbError) -> Self {
        Self::Retry(err.into())
    }
}

impl From<QueueError> for JobError {
    fn from(err: QueueError) -> Self {
        Self::Retry(err.into())
    }
}

impl From<LifecycleError> for JobError {
    fn from(err: LifecycleError) -> Self {
        match err {
            LifecycleError::Db(err) => err.into(),
            LifecycleError::Store(err) => err.into(),
            LifecycleError::Queue(err) => err.into(),
            other @ LifecycleError::DeleteUnderWay(_) => Self::Retry(other.into()),
        }
    }
}

impl From<NotifyError> for JobError {
    fn from(err: NotifyError) -> Self {
        Self::Retry(err.into())
    }
}

impl From<ImagingError> for JobError {
    fn from(err: ImagingError) -> Self {
        let cause = match err {
            ImagingError::Unsupported | ImagingError::NoLibheif(_) => "unsupported",
            ImagingError::TooLarge { .. } | ImagingError::OverLimit(_) => "too_large",
            ImagingError::Truncated => "truncated",
            ImagingError::Corrupt(_) => "corrupt",
            ImagingError::Encode(_) => "encode",
        };
        Self::abort(cause, err)
    }
}

impl From<PanicError> for JobError {
    fn from(err: PanicError) -> Self {
        Self::abort("panic", err)
    }
}

impl JobError {
    fn abort(cause: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Abort { cause, reason: err.to_string() }
    }
}

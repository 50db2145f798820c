//! A job makes an image's variants: it starts, completes or fails; and a
//! key that holds new bytes is made again.

use super::{Images, LifecycleError};
use crate::{
    db::{Completion, JobState, JobStatus, Made},
    imaging::Format,
    storage::BlobMeta,
};

impl Images {
    /// Whether the image is done from the bytes `source` describes, with a
    /// variant of every size and format jobs make now: a second delivery of its job
    /// (SQS delivers at least once; an S3 event and the API may announce
    /// one object) then does nothing. New bytes under the key are not made.
    pub async fn is_made(&self, id: i64, source: &BlobMeta) -> Result<bool, LifecycleError> {
        let wanted: Vec<(i64, Format)> = self.outputs.each().map(|(size, format)| (i64::from(size), format)).collect();
        Ok(self.meta.is_made(id, source, &wanted).await?)
    }

    /// A job read the original, of type `mime`: the image is processing
    /// those bytes (a done image stays done until new bytes are made).
    pub async fn start(&self, id: i64, source: &BlobMeta, mime: &str) -> Result<(), LifecycleError> {
        let state = JobState {
            content_type: Some(mime.into()),
            source_tag: Some(source.tag.clone()),
            ..JobState::new(JobStatus::Processing)
        };
        Ok(self.meta.set_job(id, &state).await?)
    }

    /// Records what a job made: its variants replace the image's, its row
    /// follows the new bytes. When the image was deleted while the job ran,
    /// what the job wrote goes too.
    pub async fn complete(&self, id: i64, key: &str, made: &Made<'_>) -> Result<Completion, LifecycleError> {
        let completion = self.meta.complete_job(id, made).await?;
        if completion == Completion::Gone {
            self.forget(key, made.variants).await?;
        }
        Ok(completion)
    }

    /// Records a permanent failure of the job for `key`, about the bytes
    /// tagged `source_tag` when it read them. When the image was deleted
    /// while the job ran, what the job wrote before it failed goes too.
    pub async fn fail(&self, key: &str, reason: &str, source_tag: Option<&str>) -> Result<(), LifecycleError> {
        match self.meta.image_by_key(key).await? {
            Some(image) => {
                let state = JobState {
                    error: Some(reason.to_owned()),
                    source_tag: source_tag.map(str::to_owned),
                    ..JobState::new(JobStatus::Failed)
                };
                self.meta.set_job(image.id, &state).await?;
            }
            None => {
                self.forget(key, &[]).await?;
            }
        }
        Ok(())
    }
}

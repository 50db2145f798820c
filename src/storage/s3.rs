//! S3 backend. Objects above `MULTIPART_THRESHOLD` go up as a multipart
//! upload (parts of `PART_SIZE`, a few at a time); what S3 reports of an
//! object after the put — its content type, size and last-modified time —
//! is what the `images` row records, as CloudX does.

use std::{ops::RangeInclusive, path::Path, time::Duration};

use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    presigning::PresigningConfig,
    primitives::{ByteStream as S3Body, Length},
    types::{CompletedMultipartUpload, CompletedPart},
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{BlobMeta, BlobReader, BlobStore, DEFAULT_CONTENT_TYPE, PresignedPut, StoreError};

/// Objects larger than this are uploaded in parts.
const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// 8 MiB parts (S3's minimum is 5 MiB), uploaded four at a time.
const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 4;

pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: &str) -> Self {
        Self { client, bucket: bucket.to_owned() }
    }

    /// One PUT, or a multipart upload above [`MULTIPART_THRESHOLD`]; then
    /// what S3 records of the object.
    async fn put_body(&self, key: &str, body: Source<'_>, content_type: &str) -> Result<BlobMeta, StoreError> {
        if body.len() > MULTIPART_THRESHOLD as u64 {
            self.put_multipart(key, &body, content_type).await?;
        } else {
            let whole = body.part(key, 0, body.len()).await?;
            let put = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type);
            put.body(whole).send().await.map_err(|e| classify(key, e))?;
        }
        self.head(key).await
    }

    async fn put_multipart(&self, key: &str, body: &Source<'_>, content_type: &str) -> Result<(), StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| classify(key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self.upload_parts(key, &upload_id, body).await;
        let completed = match result {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(key, e)),
            Err(err) => Err(err),
        };
        if completed.is_err() {
            // Parts of an abandoned upload are billed until aborted.
            let abort = self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&upload_id);
            if let Err(err) = abort.send().await {
                tracing::warn!(key, error = %err, "could not abort a failed multipart upload");
            }
        }
        completed
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        body: &Source<'_>,
    ) -> Result<Vec<CompletedPart>, StoreError> {
        let part_size = PART_SIZE as u64;
        let uploads = (0..body.len()).step_by(PART_SIZE).zip(1..).map(|(start, number)| async move {
            let chunk = body.part(key, start, part_size.min(body.len() - start)).await?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(chunk)
                .send()
                .await
                .map_err(|e| classify(key, e))?;
            Ok::<_, StoreError>(CompletedPart::builder().part_number(number).set_e_tag(part.e_tag).build())
        });
        let mut parts: Vec<CompletedPart> =
            stream::iter(uploads).buffer_unordered(PARTS_IN_FLIGHT).try_collect().await?;
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }
}

/// What an object is put from: bytes in memory, or a file read a part at
/// a time (never whole).
enum Source<'a> {
    Memory(Bytes),
    File { path: &'a Path, len: u64 },
}

impl Source<'_> {
    fn len(&self) -> u64 {
        match self {
            Self::Memory(bytes) => bytes.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    async fn part(&self, key: &str, start: u64, len: u64) -> Result<S3Body, StoreError> {
        match self {
            Self::Memory(bytes) => Ok(S3Body::from(bytes.slice(start as usize..(start + len) as usize))),
            Self::File { path, .. } => S3Body::read_from()
                .path(path)
                .offset(start)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(|e| StoreError::Unavailable { key: key.to_owned(), source: e.into() }),
        }
    }
}

/// 404 is "no such object"; everything else (network, throttling, access)
/// is worth retrying.
fn classify<E>(key: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    // A missing bucket is also a 404, but says so: that is configuration, not
    // a missing object, and must not fail jobs for good.
    let missing_bucket = err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("NoSuchBucket");
    if err.raw_response().is_some_and(|r| r.status().as_u16() == 404) && !missing_bucket {
        StoreError::NotFound(key.to_owned())
    } else {
        let source = anyhow::anyhow!("{}", DisplayErrorContext(&err));
        StoreError::Unavailable { key: key.to_owned(), source }
    }
}

/// What GET and HEAD report of an object (S3's times are whole seconds).
fn blob_meta(
    length: Option<i64>,
    modified: Option<&aws_sdk_s3::primitives::DateTime>,
    content_type: Option<&str>,
    e_tag: Option<&str>,
) -> BlobMeta {
    let secs = modified.map_or(0, aws_sdk_s3::primitives::DateTime::secs);
    BlobMeta {
        size: length.unwrap_or_default().max(0) as u64,
        last_modified: chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().naive_utc(),
        content_type: content_type.unwrap_or(DEFAULT_CONTENT_TYPE).to_owned(),
        tag: e_tag.unwrap_or_default().to_owned(),
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta, StoreError> {
        self.put_body(key, Source::Memory(bytes), content_type).await
    }

    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<BlobMeta, StoreError> {
        let len = tokio::fs::metadata(path)
            .await
            .map_err(|e| StoreError::Unavailable { key: key.to_owned(), source: e.into() })?
            .len();
        self.put_body(key, Source::File { path, len }, content_type).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let reader = self.open(key, None).await?;
        let chunks: Vec<Bytes> = reader
            .body
            .try_collect()
            .await
            .map_err(|e| StoreError::Unavailable { key: key.to_owned(), source: e.into() })?;
        Ok(chunks.concat().into())
    }

    async fn open(&self, key: &str, range: Option<RangeInclusive<u64>>) -> Result<BlobReader, StoreError> {
        let range = range.map(|r| format!("bytes={}-{}", r.start(), r.end()));
        let get = self.client.get_object().bucket(&self.bucket).key(key).set_range(range);
        let object = get.send().await.map_err(|e| classify(key, e))?;
        // A part's length is not the object's: "bytes 0-31/1234" is.
        let whole = object.content_range().and_then(|r| r.rsplit_once('/')?.1.parse().ok());
        let length = whole.or(object.content_length());
        let meta = blob_meta(length, object.last_modified(), object.content_type(), object.e_tag());
        let body = stream::unfold(object.body, |mut body| async move {
            body.next().await.map(|chunk| (chunk.map_err(std::io::Error::other), body))
        });
        Ok(BlobReader { meta, body: Box::pin(body) })
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError> {
        let head =
            self.client.head_object().bucket(&self.bucket).key(key).send().await.map_err(|e| classify(key, e))?;
        Ok(blob_meta(head.content_length(), head.last_modified(), head.content_type(), head.e_tag()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let delete = self.client.delete_object().bucket(&self.bucket).key(key);
        delete.send().await.map(|_| ()).map_err(|e| classify(key, e))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let pages: Vec<_> = pages.collect::<Vec<_>>().await;
        let mut keys = Vec::new();
        for page in pages {
            let page = page.map_err(|e| classify(prefix, e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }

    async fn check(&self) -> Result<(), StoreError> {
        let head = self.client.head_bucket().bucket(&self.bucket).send().await;
        head.map(|_| ()).map_err(|e| classify(&self.bucket, e))
    }

    /// Content-Type and Content-Length are signed: S3 refuses a PUT of
    /// another type or size.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<Option<PresignedPut>, StoreError> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| StoreError::Unavailable { key: key.to_owned(), source: e.into() })?;
        // `If-None-Match: *` signed in: the URL creates the object once, and
        // a second PUT of it is refused (412) instead of swapping its bytes.
        let put = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).if_none_match("*");
        let request = put.content_length(size as i64).presigned(config).await.map_err(|e| classify(key, e))?;
        let headers = request.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
        Ok(Some(PresignedPut { url: request.uri().to_owned(), headers }))
    }
}

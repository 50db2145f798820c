//! `POST /api/image`: multipart field `upfile`. The bytes decide whether
//! it is an image, never the name or the client's content type; what is
//! refused is not stored. The file is received into a spool file, never
//! whole into memory, and handed to the blob store from there.

use std::{path::PathBuf, sync::Arc};

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, http::header::CONTENT_DISPOSITION, web};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tempfile::{NamedTempFile, TempPath};
use tokio::{
    io::AsyncWriteExt,
    sync::{OwnedSemaphorePermit, Semaphore},
};
use utoipa::ToSchema;

use super::{ApiError, AppState, body::Paced, error::Problem};
use crate::{
    imaging::{self, Kind, SUPPORTED},
    keys,
    storage::DEFAULT_CONTENT_TYPE,
    telemetry::UPLOAD_BYTES_IN_FLIGHT,
};

/// The answer when `upfile` is missing: CloudX's status and problem, with
/// a detail that says what to send.
const NO_UPFILE: &str = "the form has no field named upfile: send the image in it (curl -F upfile=@photo.jpg)";
/// ... and when the body is no multipart form at all.
const NOT_A_FORM: &str =
    "the body is not a readable multipart form: send the image in a field named upfile (curl -F upfile=@photo.jpg)";

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    upfile: Vec<u8>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct Uploaded {
    pub(super) id: i64,
}

/// What a form may carry besides its file: boundaries, headers, small fields.
const FORM_OVERHEAD: usize = 64 * 1024;

/// Enough of the start of a file to tell its type.
const SNIFF_BYTES: usize = 64;

/// An upload received into the spool.
pub(super) struct Spooled {
    /// Removed when this is dropped (unless the store moved it).
    pub path: TempPath,
    head: Vec<u8>,
    pub size: usize,
    /// Its share of `http.upload_bytes_in_flight`, held until the answer.
    _held: InFlight,
}

impl Spooled {
    /// The image type its bytes show; `what` names the upload in the refusal.
    pub fn kind(&self, what: &str) -> Result<Kind, ApiError> {
        let kind = imaging::sniff(&self.head).ok_or_else(|| {
            ApiError::UnsupportedMedia(format!(
                "{what} is not a supported image (expected {SUPPORTED}); nothing was stored"
            ))
        })?;
        kind.readable().map_err(|e| ApiError::UnsupportedMedia(format!("{what}: {e}; nothing was stored")))?;
        Ok(kind)
    }
}

/// Where uploads are received, emptied of what a crash left there.
pub async fn open_spool(spool: PathBuf) -> std::io::Result<PathBuf> {
    match tokio::fs::remove_dir_all(&spool).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => tokio::fs::create_dir_all(&spool).await?,
    }
    Ok(spool)
}

/// Upload bytes taken from the budget, and counted in the gauge.
struct InFlight {
    budget: Arc<Semaphore>,
    permit: OwnedSemaphorePermit,
}

impl InFlight {
    fn new(budget: &Arc<Semaphore>) -> Self {
        let none = budget.clone().try_acquire_many_owned(0).expect("the upload budget is never closed");
        Self { budget: budget.clone(), permit: none }
    }

    /// Takes `n` more bytes, or refuses at once when the budget is spent.
    fn take(&mut self, n: usize) -> Result<(), ApiError> {
        let more = u32::try_from(n).ok().and_then(|n| self.budget.clone().try_acquire_many_owned(n).ok());
        let more = more.ok_or(ApiError::Busy("too many uploads are being received; try again"))?;
        metrics::gauge!(UPLOAD_BYTES_IN_FLIGHT).increment(n as f64);
        self.permit.merge(more);
        Ok(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(UPLOAD_BYTES_IN_FLIGHT).decrement(self.permit.num_permits() as f64);
    }
}

#[utoipa::path(post, path = "/image", security(("bearer_token" = [])), tag = "image",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Uploaded), (status = 400, description = "no upfile, or it is empty", content((Problem = "application/problem+json"))),
        (status = 413, description = "larger than processing.max_upload_bytes", content((Problem = "application/problem+json"))),
        (status = 408, description = "the body stalled, came too slowly or took too long (http.body_*)", content((Problem = "application/problem+json"))),
        (status = 503, description = "a backend is unavailable, or http.upload_bytes_in_flight is spent; Retry-After says when to try again", content((Problem = "application/problem+json"))),
        (status = 415, description = "not a supported image; nothing stored", content((Problem = "application/problem+json")))))]
pub async fn upload(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (paced, body) = Paced::start(&request, payload, state.pace, state.max_upload_bytes, FORM_OVERHEAD)?;
    let form = Multipart::new(request.headers(), body);
    let (name, file) = read_upfile(form, &state).await.map_err(|err| paced.refusal().unwrap_or(err))?;
    let kind = file.kind("upfile")?;
    // No content type, as CloudX uploads: S3 records its default.
    let id = state.images.accept(keys::original_key(&name), &file.path, DEFAULT_CONTENT_TYPE, kind).await?;
    Ok(HttpResponse::Ok().json(Uploaded { id }))
}

/// The file name the client sent. A Windows browser may send its whole
/// path with bare backslashes (`C:\Users\bob\cat.webp`), which a
/// quoted-string parser reads as escapes (`C:Usersbobcat.webp`): then
/// the name is taken as written, and the key keeps its last segment.
fn client_file_name(field: &actix_multipart::Field) -> String {
    let parsed = field.content_disposition().and_then(|cd| cd.get_filename()).unwrap_or_default();
    let raw = field.headers().get(CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let written = raw.split_once("filename=\"").and_then(|(_, rest)| rest.split_once('"')).map(|(name, _)| name);
    match written {
        // (One that ends in a backslash was cut at an escaped quote.)
        Some(name) if name.contains('\\') && !name.ends_with('\\') => name.to_owned(),
        _ => parsed.to_owned(),
    }
}

async fn read_upfile(mut payload: Multipart, state: &AppState) -> Result<(String, Spooled), ApiError> {
    let malformed = |err: actix_multipart::MultipartError| {
        tracing::debug!(error = %err, "unreadable multipart body");
        ApiError::BadRequest(NOT_A_FORM.into())
    };
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(malformed)?;
        if field.name() != Some("upfile") {
            while let Some(chunk) = field.next().await {
                chunk.map_err(malformed)?;
            }
            continue;
        }
        let name = client_file_name(&field);
        let file = spool(field, state, malformed).await?;
        if file.size == 0 {
            return Err(ApiError::BadRequest("upfile is empty".into()));
        }
        return Ok((name, file));
    }
    Err(ApiError::BadRequest(NO_UPFILE.into()))
}

/// Receives a body into a spool file, within `processing.max_upload_bytes`
/// and the budget of bytes in flight.
pub(super) async fn spool<E>(
    mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    state: &AppState,
    malformed: impl Fn(E) -> ApiError,
) -> Result<Spooled, ApiError> {
    let (file, path) = NamedTempFile::new_in(&state.spool).map_err(spool_error)?.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut held = InFlight::new(&state.upload_budget);
    let mut size = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(&malformed)?;
        size += chunk.len();
        if size > state.max_upload_bytes {
            return Err(ApiError::TooLarge(state.max_upload_bytes));
        }
        held.take(chunk.len())?;
        head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
        file.write_all(&chunk).await.map_err(spool_error)?;
    }
    file.flush().await.map_err(spool_error)?;
    Ok(Spooled { path, head, size, _held: held })
}

/// A spool that cannot be written is this host's outage.
fn spool_error(err: std::io::Error) -> ApiError {
    super::error::unavailable(format_args!("writing the upload spool: {err}"))
}

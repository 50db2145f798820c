//! Sending a stored object: whole, one range of it, its headers alone
//! (`HEAD`), or nothing when the client's copy is current. The validators
//! are the store's own, so what a cache holds is checked against the bytes.

use actix_web::{
    HttpRequest, HttpResponse, HttpResponseBuilder,
    http::{
        Method,
        header::{
            ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_SECURITY_POLICY, ETag,
            LastModified, VARY,
        },
    },
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::conditional::{self, Decision, Validators};
use crate::{
    imaging::{self, Kind},
    keys,
    storage::{BlobReader, BlobStore, ByteStream, StoreError},
};

/// How one object is sent.
pub struct Object<'a> {
    pub key: &'a str,
    /// `None`: told by the bytes, in CloudX's spelling (see [`served_type`]).
    pub content_type: Option<&'static str>,
    pub cache_control: &'static str,
    /// As a download named after the key, as CloudX sends originals.
    pub attachment: bool,
    /// The request headers that chose this object among others (`Vary`).
    pub vary: Option<&'static str>,
}

/// Bytes enough for [`imaging::sniff`].
const SNIFF_BYTES: u64 = 64;

impl Object<'_> {
    /// The answer to `req`. A plain GET reads the object once; a request
    /// with preconditions or a range first asks the store for the
    /// validators, so a 304 costs no bytes.
    pub async fn send(&self, req: &HttpRequest, blobs: &dyn BlobStore) -> Result<HttpResponse, StoreError> {
        let head = req.method() == Method::HEAD;
        if !head && !conditional::asks(req) {
            return self.whole(blobs.open(self.key, None).await?).await;
        }
        let meta = blobs.head(self.key).await?;
        let validators = Validators::of(&meta);
        match conditional::decide(req, &validators) {
            Decision::NotModified => Ok(self.headers(HttpResponse::NotModified(), &validators).finish()),
            Decision::PreconditionFailed => Ok(HttpResponse::PreconditionFailed().finish()),
            Decision::Unsatisfiable => Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((CONTENT_RANGE, format!("bytes */{}", meta.size)))
                .finish()),
            Decision::Whole if head => {
                let content_type = self.stored_type(blobs, meta.size).await?;
                let mut response = self.headers(HttpResponse::Ok(), &validators);
                let empty = stream::empty::<Result<Bytes, std::io::Error>>();
                Ok(response.content_type(content_type).no_chunking(meta.size).streaming(empty))
            }
            Decision::Whole => self.whole(blobs.open(self.key, None).await?).await,
            Decision::Part(range) => {
                let part = blobs.open(self.key, Some(range.clone())).await?;
                if part.meta.tag != meta.tag {
                    // Replaced since: a range of other bytes than the
                    // client's would corrupt what it joins them to.
                    return self.whole(blobs.open(self.key, None).await?).await;
                }
                let content_type = self.stored_type(blobs, meta.size).await?;
                let mut response = self.headers(HttpResponse::PartialContent(), &validators);
                let span = format!("bytes {}-{}/{}", range.start(), range.end(), meta.size);
                Ok(response
                    .content_type(content_type)
                    .insert_header((CONTENT_RANGE, span))
                    .no_chunking(range.end() - range.start() + 1)
                    .streaming(part.body))
            }
        }
    }

    /// 200 with every byte; the type told by the first of them.
    async fn whole(&self, mut object: BlobReader) -> Result<HttpResponse, StoreError> {
        let first = object.body.next().await.transpose().map_err(|err| read_error(self.key, err))?;
        let first = first.unwrap_or_default();
        let content_type = self.content_type.map_or_else(|| served_type(self.key, imaging::sniff(&first)), Into::into);
        let body: ByteStream = Box::pin(stream::once(async { Ok(first) }).chain(object.body));
        let mut response = self.headers(HttpResponse::Ok(), &Validators::of(&object.meta));
        Ok(response.content_type(content_type).no_chunking(object.meta.size).streaming(body))
    }

    /// The type of the bytes stored now, from a read of their first few.
    async fn stored_type(&self, blobs: &dyn BlobStore, size: u64) -> Result<String, StoreError> {
        if let Some(known) = self.content_type {
            return Ok(known.to_owned());
        }
        let first = match size.min(SNIFF_BYTES) {
            0 => Vec::new(),
            n => {
                let reader = blobs.open(self.key, Some(0..=n - 1)).await?;
                let chunks: Vec<Bytes> = reader.body.try_collect().await.map_err(|err| read_error(self.key, err))?;
                chunks.concat()
            }
        };
        Ok(served_type(self.key, imaging::sniff(&first)))
    }

    /// What every answer about the object carries, 304s included.
    fn headers(&self, mut response: HttpResponseBuilder, object: &Validators) -> HttpResponseBuilder {
        // Uploaded bytes are never a page: even opened as one, no script runs.
        response
            .insert_header((CONTENT_SECURITY_POLICY, "sandbox"))
            .insert_header(ETag(object.etag.clone()))
            .insert_header(LastModified(object.last_modified))
            .insert_header((CACHE_CONTROL, self.cache_control))
            .insert_header((ACCEPT_RANGES, "bytes"));
        if self.attachment {
            response.insert_header((CONTENT_DISPOSITION, attachment(keys::file_name(self.key))));
        }
        if let Some(vary) = self.vary {
            response.insert_header((VARY, vary));
        }
        response
    }
}

fn read_error(key: &str, err: std::io::Error) -> StoreError {
    StoreError::Unavailable { key: key.to_owned(), source: err.into() }
}

/// The type an original is served as: CloudX's `image/<extension>` where
/// the bytes were sniffed as that type, else the sniffed type; bytes never
/// sniffed as an image are `application/octet-stream`. Never the client's
/// name alone: a JPEG named `x.svg+xml` is not served as SVG.
fn served_type(key: &str, sniffed: Option<Kind>) -> String {
    let Some(kind) = sniffed else { return "application/octet-stream".to_owned() };
    match keys::file_name(key).rsplit_once('.') {
        Some((_, ext)) if kind.extensions().contains(&ext.to_ascii_lowercase().as_str()) => format!("image/{ext}"),
        _ => kind.mime().to_owned(),
    }
}

/// `attachment; filename=NAME` unquoted as CloudX sends it, quoted (RFC
/// 6266) only where the name would otherwise break the header.
fn attachment(name: &str) -> String {
    let plain = name.bytes().all(|b| b.is_ascii_graphic() && !b"\";\\".contains(&b));
    if plain {
        format!("attachment; filename={name}")
    } else {
        let ascii: String = name.chars().map(|c| if c.is_ascii() && c != '"' && c != '\\' { c } else { '_' }).collect();
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_type_is_the_sniffed_one_in_cloudxs_spelling_where_they_agree() {
        assert_eq!(served_type("images/a-t1.jpg", Some(Kind::Jpeg)), "image/jpg");
        assert_eq!(served_type("a-t1.JPEG", Some(Kind::Jpeg)), "image/JPEG");
        assert_eq!(served_type("x.svg+xml", Some(Kind::Jpeg)), "image/jpeg");
        assert_eq!(served_type("x.png", Some(Kind::Gif)), "image/gif");
        assert_eq!(served_type("noext", Some(Kind::Webp)), "image/webp");
        assert_eq!(served_type("x.svg", None), "application/octet-stream");
    }

    #[test]
    fn attachment_names_are_unquoted_unless_they_must_be() {
        assert_eq!(attachment("abc-t1.jpg"), "attachment; filename=abc-t1.jpg");
        assert_eq!(attachment("a b.jpg"), "attachment; filename=\"a b.jpg\"; filename*=UTF-8''a%20b.jpg");
    }
}

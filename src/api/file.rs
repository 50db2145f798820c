//! The byte routes: the original as CloudX serves it, and thumbnails.

use actix_web::{
    HttpResponse,
    http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, LAST_MODIFIED},
    web,
};

use super::{ApiError, AppState, error::Problem, image::image_id};
use futures_util::{StreamExt, stream};

use crate::{
    imaging::{self, Kind},
    keys,
    storage::StoreError,
};

/// Uploaded bytes are never a page: even opened as one, no script runs.
const SANDBOX: (actix_web::http::header::HeaderName, &str) = (CONTENT_SECURITY_POLICY, "sandbox");

/// Downloads the original image.
///
/// With CloudX's headers: `image/<extension>` (when the bytes are of that
/// type) and an attachment named after the key.
#[utoipa::path(get, path = "/image/file/{image_id}", tag = "image", params(("image_id" = u64, Path)),
    responses((status = 200, description = "the uploaded bytes", content_type = "image/*"),
        (status = 404, description = "Image is not found! (plain text); a problem document when the id is not an integer",
        content(("text/plain", example = "Image is not found!"), (Problem = "application/problem+json")))))]
pub async fn download(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = state.backends.meta.image(image_id(&id)?).await?.ok_or(ApiError::FileNotFound)?;
    let mut object = state.backends.blobs.open(&row.object_key).await?;
    // The type is told by the bytes being served, as they are now.
    let first = object.body.next().await.transpose().map_err(|err| read_error(&row.object_key, err))?;
    let first = first.unwrap_or_default();
    let sniffed = imaging::sniff(&first);
    let body = stream::once(async { Ok::<_, std::io::Error>(first) }).chain(object.body);
    let name = keys::file_name(&row.object_key);
    Ok(HttpResponse::Ok()
        .content_type(served_type(name, sniffed))
        .insert_header(SANDBOX)
        .insert_header((CONTENT_DISPOSITION, attachment(name)))
        .insert_header((LAST_MODIFIED, row.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string()))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .no_chunking(object.meta.size)
        .streaming(body))
}

fn read_error(key: &str, err: std::io::Error) -> ApiError {
    StoreError::Unavailable { key: key.to_owned(), source: err.into() }.into()
}

/// The type an original is served as: CloudX's `image/<extension>` where
/// the bytes were sniffed as that type, else the sniffed type; bytes never
/// sniffed as an image are `application/octet-stream`. Never the client's
/// name alone: a JPEG named `x.svg+xml` is not served as SVG.
fn served_type(name: &str, sniffed: Option<Kind>) -> String {
    let Some(kind) = sniffed else { return "application/octet-stream".to_owned() };
    match name.rsplit_once('.') {
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

/// One thumbnail's JPEG; 404 until the job has made it.
#[utoipa::path(get, path = "/image/{image_id}/thumbnail/{size}", tag = "thumbnails",
    params(("image_id" = u64, Path), ("size" = u32, Path, description = "one of processing.sizes")),
    responses((status = 200, description = "the JPEG", content_type = "image/jpeg"),
        (status = 404, description = "not found; a problem document when the id is not an integer",
        content((String = "application/json", example = json!("Thumbnail not found!")), (Problem = "application/problem+json")))))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, size) = path.into_inner();
    let id = image_id(&id)?;
    let size: i64 = size.parse().map_err(|_| ApiError::NoRoute)?;
    let variants = state.backends.meta.variants(id).await?;
    let variant = variants.iter().find(|v| v.size == size).ok_or(ApiError::ThumbnailNotFound)?;
    let bytes = state.backends.blobs.get(&variant.object_key).await.map_err(|err| match err {
        crate::storage::StoreError::NotFound(_) => ApiError::ThumbnailNotFound,
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().content_type("image/jpeg").insert_header(SANDBOX).body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_type_is_the_sniffed_one_in_cloudxs_spelling_where_they_agree() {
        assert_eq!(served_type("a-t1.jpg", Some(Kind::Jpeg)), "image/jpg");
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

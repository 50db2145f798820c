//! Object keys. Originals follow CloudX v1 (`images/<uuid4>-<filename>`);
//! variant keys are derived from the source key, so a redelivered job
//! rewrites the same objects instead of adding new ones.

/// The key of a new upload. The client's name keeps only its last path
/// segment, so it can never add folders to the key.
pub fn original_key(filename: &str) -> String {
    let name = filename.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let name = if name.is_empty() || name == "." || name == ".." { "upload" } else { name };
    format!("images/{}-{name}", uuid::Uuid::new_v4())
}

/// Where variants live; never a source of jobs.
pub const VARIANT_PREFIX: &str = "thumbnails/";

/// `images/abc-t1.jpg` → `thumbnails/abc-t1.jpg/256.jpg`.
pub fn variant_key(source_key: &str, size: u32) -> String {
    let name = source_key.strip_prefix("images/").unwrap_or(source_key);
    format!("{VARIANT_PREFIX}{name}/{size}.jpg")
}

/// The file name part of a key, as CloudX offers it for download.
pub fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_keys_are_uuid_prefixed_and_flat() {
        let key = original_key("../../etc/cat photo.jpg");
        let name = key.strip_prefix("images/").unwrap();
        assert!(name.ends_with("-cat photo.jpg"), "{key}");
        assert_eq!(name.len(), 36 + "-cat photo.jpg".len());
        assert!(original_key("").ends_with("-upload"));
    }

    #[test]
    fn variant_keys_are_deterministic() {
        assert_eq!(variant_key("images/abc-t1.jpg", 256), "thumbnails/abc-t1.jpg/256.jpg");
        assert_eq!(variant_key("images/abc-t1.jpg", 256), variant_key("images/abc-t1.jpg", 256));
        assert_eq!(variant_key("uploads/x.png", 128), "thumbnails/uploads/x.png/128.jpg");
        assert_eq!(file_name("images/abc-t1.jpg"), "abc-t1.jpg");
    }
}

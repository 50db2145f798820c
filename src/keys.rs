//! Object keys. Originals follow CloudX v1 (`images/<uuid4>-<filename>`);
//! variant keys are derived from the source key, so a redelivered job
//! rewrites the same objects instead of adding new ones.

use crate::imaging::Format;

/// The longest client file name a key keeps, in bytes: with the UUID in
/// front, a key's last segment stays well within the 255 bytes a file
/// system allows for a name (and the variants' folder is named after it).
const MAX_NAME_BYTES: usize = 200;
/// An extension longer than this is not one, and is cut like the rest.
const MAX_EXTENSION_BYTES: usize = 16;

/// The key of a new upload, from any name a client sends: only its last
/// path segment (it can never add folders), without control characters,
/// cut to [`MAX_NAME_BYTES`] on a character boundary, extension kept.
pub fn original_key(filename: &str) -> String {
    let name = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    let name = if name.is_empty() || name == "." || name == ".." { "upload" } else { name };
    format!("images/{}-{}", uuid::Uuid::new_v4(), capped(name))
}

fn capped(name: &str) -> std::borrow::Cow<'_, str> {
    if name.len() <= MAX_NAME_BYTES {
        return name.into();
    }
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => name.split_at(dot),
        _ => (name, ""),
    };
    let mut end = MAX_NAME_BYTES - extension.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{extension}", &stem[..end]).into()
}

/// Where variants live; never a source of jobs.
pub const VARIANT_PREFIX: &str = "thumbnails/";

/// `images/abc-t1.jpg` → `thumbnails/abc-t1.jpg/256.jpg` (JPEG), `…/256.webp`.
pub fn variant_key(source_key: &str, size: u32, format: Format) -> String {
    format!("{}{size}.{}", variant_folder(source_key), format.extension())
}

/// Where a source key's variants live: `images/abc-t1.jpg` →
/// `thumbnails/abc-t1.jpg/`.
pub fn variant_folder(source_key: &str) -> String {
    let name = source_key.strip_prefix("images/").unwrap_or(source_key);
    format!("{VARIANT_PREFIX}{name}/")
}

/// Whether `key` lies right in `folder`: a deeper key is another source's
/// variant (`images/a` and `images/a/b.jpg` are two images).
pub fn is_variant_in(folder: &str, key: &str) -> bool {
    key.strip_prefix(folder).is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
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
    fn any_name_gives_a_short_clean_key_with_its_extension() {
        let long = format!("{}.jpg", "я".repeat(120));
        let key = original_key(&long);
        let name = key.strip_prefix("images/").unwrap();
        assert!(name.len() <= 37 + MAX_NAME_BYTES && name.ends_with("я.jpg"), "{key}");
        assert!(original_key(&"x".repeat(300)).len() <= "images/".len() + 37 + MAX_NAME_BYTES);
        let odd = original_key("a\u{0}b\nc\u{7f}\u{1b}[31m.png");
        assert!(odd.ends_with("-abc[31m.png"), "{odd}");
        assert!(original_key("\n\t").ends_with("-upload"));
    }

    #[test]
    fn variant_keys_are_deterministic() {
        use Format::{Jpeg, Webp};
        assert_eq!(variant_key("images/abc-t1.jpg", 256, Jpeg), "thumbnails/abc-t1.jpg/256.jpg");
        assert_eq!(variant_key("images/abc-t1.jpg", 256, Webp), "thumbnails/abc-t1.jpg/256.webp");
        assert_eq!(variant_key("images/abc-t1.jpg", 256, Jpeg), variant_key("images/abc-t1.jpg", 256, Jpeg));
        assert_eq!(variant_key("uploads/x.png", 128, Jpeg), "thumbnails/uploads/x.png/128.jpg");
        assert_eq!(file_name("images/abc-t1.jpg"), "abc-t1.jpg");
        let folder = variant_folder("images/a");
        assert!(is_variant_in(&folder, &variant_key("images/a", 64, Webp)));
        assert!(!is_variant_in(&folder, &variant_key("images/a/b.jpg", 64, Jpeg)), "another image's variant");
    }
}

//! Truncation checks. The JPEG decoder is lenient: it fills a cut-off
//! file with grey and reports success. A truncated upload should fail
//! with a reason instead (as Pillow and libvips' `fail` mode do), so the
//! structure is checked before decoding.

/// Whether a JPEG has its end-of-image marker after its first scan. The
/// header segments are walked by their lengths (an EXIF thumbnail inside
/// APP1 has markers of its own); in entropy-coded data a 0xFF byte is
/// always stuffed or a marker, so `FF D9` there is the real end. Searched
/// from the back, as files end with it.
pub fn jpeg_complete(bytes: &[u8]) -> bool {
    let Some(scan) = first_scan(bytes) else { return false };
    bytes[scan..].windows(2).rev().any(|w| w == [0xFF, 0xD9])
}

/// The offset just after the first SOS segment header.
fn first_scan(bytes: &[u8]) -> Option<usize> {
    let mut at = 2; // after SOI
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
        at += 2 + len;
        if marker == 0xDA {
            return (at <= bytes.len()).then_some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        let image = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 7]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&image).unwrap();
        out
    }

    #[test]
    fn whole_files_pass_and_cut_ones_do_not() {
        let whole = jpeg();
        assert!(jpeg_complete(&whole));
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"trailing bytes some cameras add");
        assert!(jpeg_complete(&trailing));
        for cut in [whole.len() - 2, whole.len() / 2, 40, 3] {
            assert!(!jpeg_complete(&whole[..cut]), "cut at {cut}");
        }
    }
}

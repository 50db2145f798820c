//! HEIC/HEIF and AVIF, through the system's libheif (libde265 for HEVC,
//! dav1d or libaom for AV1), loaded at run time ([`ffi`]).
//!
//! Planning reads only the container's boxes: the primary image's size
//! (after its `irot`/`imir`, as a grid or a single image declares it), its
//! bit depth and alpha, before any tile is decoded. Decoding applies those
//! transforms itself, so an EXIF orientation, which HEIF makes informative
//! and which iPhones write beside the same `irot`, is not applied again (as
//! libvips does).

mod ffi;

use moxcms::ColorProfile;

use super::{
    ImagingError, Kind, Probe,
    color::{self, Samples},
    pixels::{Pixels, flatten},
};

/// The kind an ISO-BMFF `ftyp` box names, by its major and compatible
/// brands: AVIF where AV1 is named, else HEIC for HEVC or the generic
/// HEIF brands (`mif1`, `msf1`).
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    let size = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if bytes.get(4..8)? != b"ftyp" || !(16..=4096).contains(&size) {
        return None;
    }
    // The major brand, the minor version, then the compatible brands (as
    // many of them as the bytes at hand hold).
    let brands = bytes[8..size.min(bytes.len())].chunks_exact(4).enumerate().filter(|(i, _)| *i != 1);
    let brands: Vec<&[u8]> = brands.map(|(_, brand)| brand).collect();
    let named = |names: &[&[u8; 4]]| brands.iter().any(|brand| names.iter().any(|name| *brand == *name));
    if named(&[b"avif", b"avis"]) {
        Some(Kind::Avif)
    } else if named(&[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"]) {
        Some(Kind::Heic)
    } else {
        None
    }
}

/// The primary image's upright size, and the bytes per pixel its decode
/// holds at the peak: the decoder's planes (up to 4:4:4, two bytes a
/// sample above 8 bits), libheif's interleaved RGB(A) and the flattened copy.
pub fn probe(bytes: &[u8], kind: Kind) -> Result<(Probe, u64), ImagingError> {
    require()?;
    if !whole(bytes) {
        return Err(ImagingError::Truncated);
    }
    let context = ffi::Context::read(bytes).map_err(error)?;
    let handle = context.primary().map_err(error)?;
    let (width, height) = handle.size();
    let sample = if handle.luma_bits() > 8 { 2 } else { 1 };
    Ok((Probe { kind, width, height }, 3 * sample + 4 + 3))
}

/// The libheif this process reads HEIC and AVIF with, or why it has none.
pub fn library() -> Result<&'static str, &'static str> {
    ffi::version()
}

/// Refuses, with the reason, on a host without libheif.
pub fn require() -> Result<(), ImagingError> {
    ffi::version().map(drop).map_err(ImagingError::NoLibheif)
}

/// Whether the top-level boxes end where the bytes do: a file cut short
/// ends inside one (libheif says "no 'meta' box" for some such cuts).
fn whole(mut bytes: &[u8]) -> bool {
    while let Some(head) = bytes.get(..8) {
        let size = match u32::from_be_bytes(head[..4].try_into().expect("four bytes")) {
            0 => return true, // the last box, to the end of the file
            1 => bytes.get(8..16).map_or(0, |large| u64::from_be_bytes(large.try_into().expect("eight bytes"))),
            size => u64::from(size),
        };
        match usize::try_from(size) {
            Ok(size) if size >= 8 && size <= bytes.len() => bytes = &bytes[size..],
            _ => return false,
        }
    }
    bytes.is_empty()
}

/// The primary image, upright, in sRGB.
pub fn decode(bytes: &[u8]) -> Result<Pixels, ImagingError> {
    let mut context = ffi::Context::read(bytes).map_err(error)?;
    // The CPU pool runs one job per core: a decode keeps to its thread.
    context.set_max_decoding_threads(1);
    let handle = context.primary().map_err(error)?;
    let alpha = handle.has_alpha();
    let image = handle.decode(alpha).map_err(error)?;
    let (width, height, stride, rows) =
        image.interleaved().ok_or_else(|| ImagingError::Corrupt("libheif gave no pixels".into()))?;
    let row = width as usize * if alpha { 4 } else { 3 };
    let mut data = Vec::with_capacity(row * height as usize);
    rows.chunks(stride).for_each(|line| data.extend_from_slice(&line[..row]));
    if alpha {
        data = flatten(&data, 4);
    }
    let samples = Samples { width, height, channels: 3, data, inverted: false };
    Ok(color::to_srgb_from(samples, profile(&handle)))
}

/// libaom's speed (0–9) for AVIF thumbnails: at 8 a 1024 px thumbnail
/// takes 86 ms (libwebp's method 4: 50); libaom's default, 6, took three
/// times as long in one trial, for no fewer bytes (BENCHMARKS.md).
pub const AVIF_SPEED: u8 = 8;

/// RGB samples as a lossy AVIF at libheif's `quality` (0–100).
pub fn encode_avif(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, ImagingError> {
    require()?;
    ffi::encode_avif(width, height, rgb, quality, AVIF_SPEED)
        .map_err(|e| ImagingError::Encode(format!("AVIF: {}", e.message)))
}

/// The colour space the pixels are in: an ICC profile where the file has
/// one, else wide-gamut primaries its `nclx` box names (Display P3, as
/// phones write, or BT.2020). Transfer curves are taken as sRGB's.
fn profile(handle: &ffi::Handle<'_>) -> Option<ColorProfile> {
    if let Some(icc) = handle.icc() {
        return ColorProfile::new_from_slice(&icc).ok();
    }
    match handle.nclx_primaries()? {
        DISPLAY_P3 => Some(ColorProfile::new_display_p3()),
        BT_2020 => Some(ColorProfile::new_bt2020()),
        _ => None,
    }
}

/// H.273 colour primaries.
const BT_2020: i32 = 9;
const DISPLAY_P3: i32 = 12;

/// libheif's own limits (32768 pixels a side, tiles in a grid) refuse a
/// file before planning can: those are refusals for size, not corruption.
fn error(e: ffi::Error) -> ImagingError {
    match e.subcode {
        ffi::SUBERROR_END_OF_DATA => ImagingError::Truncated,
        ffi::SUBERROR_SECURITY_LIMIT_EXCEEDED => {
            // "Memory allocation error: Security limit exceeded: Image size …"
            let (_, what) = e.message.rsplit_once("exceeded: ").unwrap_or(("", &e.message));
            ImagingError::OverLimit(what.to_owned())
        }
        _ => ImagingError::Corrupt(e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brands: &[&[u8; 4]]) -> Vec<u8> {
        let mut body: Vec<u8> = brands[0].to_vec();
        body.extend([0; 4]);
        brands[1..].iter().for_each(|brand| body.extend(*brand));
        [&(body.len() as u32 + 8).to_be_bytes()[..], b"ftyp", &body].concat()
    }

    #[test]
    fn brands_name_the_kind() {
        assert_eq!(sniff(&ftyp(&[b"heic", b"mif1", b"heic"])), Some(Kind::Heic), "an iPhone's");
        assert_eq!(sniff(&ftyp(&[b"mif1", b"mif1", b"miaf"])), Some(Kind::Heic), "a generic HEIF");
        assert_eq!(sniff(&ftyp(&[b"avif", b"avif", b"mif1", b"miaf"])), Some(Kind::Avif));
        assert_eq!(sniff(&ftyp(&[b"mif1", b"avif"])), Some(Kind::Avif), "AV1 named among the compatible");
        assert_eq!(sniff(&ftyp(&[b"isom", b"iso2", b"mp41"])), None, "an MP4 video");
        // The minor version is not a brand, though it may spell one.
        let mut minor = ftyp(&[b"isom", b"mp41"]);
        minor[12..16].copy_from_slice(b"heic");
        assert_eq!(sniff(&minor), None);
        assert_eq!(sniff(b"\0\0\0\x10ftyp"), None, "cut inside the box");
    }

    #[test]
    fn a_file_is_whole_when_its_boxes_end_where_it_does() {
        let file = [ftyp(&[b"heic", b"mif1"]), vec![0, 0, 0, 12, b'm', b'd', b'a', b't', 1, 2, 3, 4]].concat();
        assert!(whole(&file));
        assert!(!whole(&file[..file.len() - 1]));
        assert!(!whole(&file[..file.len() - 6]), "cut inside a box's header");
        let mut open_ended = file.clone();
        open_ended[file.len() - 12..file.len() - 8].copy_from_slice(&[0; 4]);
        assert!(whole(&open_ended[..file.len() - 2]), "a last box of size 0 runs to the end");
    }
}

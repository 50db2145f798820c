//! The resize core: sniff, probe, decode, resize, encode. Everything the
//! rest of imaged needs from it is the few functions here, so the codec and
//! resampler behind them can be swapped without touching the pipeline.

mod color;
mod decode;
mod heif;
mod integrity;
pub mod jpeg;
mod output;
mod pixels;
mod pool;
mod resize;

pub use heif::{AVIF_SPEED, library as heif_library};
pub use output::Format;
pub use pixels::Pixels;
pub use pool::{CpuPool, PanicError};
pub use resize::{Rendered, Thumbnail, render, render_with, thumbnails};

/// The stages of `thumbnails` one at a time, for the benchmarks.
#[doc(hidden)]
pub mod stages {
    pub use super::{
        decode::{Decoded, decode},
        jpeg::encode,
        resize::{fit, resize},
    };
}

use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader};

/// The formats imaged accepts, decided from the bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// HEIF with HEVC (phones' photos), or another HEIF that libheif reads.
    Heic,
    Avif,
}

impl Kind {
    pub const ALL: [Self; 6] = [Self::Jpeg, Self::Png, Self::Gif, Self::Webp, Self::Heic, Self::Avif];

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Heic => "image/heic",
            Self::Avif => "image/avif",
        }
    }

    /// File-name extensions (lowercase) that name this kind.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            Self::Png => &["png"],
            Self::Gif => &["gif"],
            Self::Webp => &["webp"],
            Self::Heic => &["heic", "heif", "hif"],
            Self::Avif => &["avif"],
        }
    }

    /// Whether this host reads it: HEIC and AVIF need the system's libheif.
    pub fn readable(self) -> Result<(), ImagingError> {
        match self {
            Self::Heic | Self::Avif => heif::require(),
            _ => Ok(()),
        }
    }

    /// The `image` crate's name for the formats it decodes; `None` for
    /// JPEG (decoded by libjpeg-turbo) and HEIF (libheif).
    fn format(self) -> Option<ImageFormat> {
        match self {
            Self::Png => Some(ImageFormat::Png),
            Self::Gif => Some(ImageFormat::Gif),
            Self::Webp => Some(ImageFormat::WebP),
            Self::Jpeg | Self::Heic | Self::Avif => None,
        }
    }
}

pub const SUPPORTED: &str = "JPEG, PNG, GIF, WebP, HEIC or AVIF";

/// Every imaging error is permanent: the same bytes fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error("not a supported image (expected {SUPPORTED})")]
    Unsupported,
    #[error("image is {width}x{height} = {pixels} pixels, above the limit of {limit}")]
    TooLarge { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("HEIC and AVIF need libheif, and this host has none: {0}")]
    NoLibheif(&'static str),
    #[error("image is too large: {0}")]
    OverLimit(String),
    #[error("image data is truncated")]
    Truncated,
    #[error("cannot decode image: {0}")]
    Corrupt(String),
    #[error("cannot encode thumbnail: {0}")]
    Encode(String),
}

/// The format of `bytes`, judged by their magic numbers.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if let Some(kind) = heif::sniff(bytes) {
        return Some(kind);
    }
    match image::guess_format(bytes).ok()? {
        ImageFormat::Jpeg => Some(Kind::Jpeg),
        ImageFormat::Png => Some(Kind::Png),
        ImageFormat::Gif => Some(Kind::Gif),
        ImageFormat::WebP => Some(Kind::Webp),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
}

impl Probe {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// How an image will be decoded, and the memory that takes, known from its
/// header before any pixel is decoded.
#[derive(Debug, Clone)]
pub struct Plan {
    pub probe: Probe,
    /// The JPEG header; `None` for the other formats.
    pub header: Option<jpeg::Header>,
    /// The DCT scale, in eighths (8 = full size; always 8 for non-JPEGs).
    pub scale: u8,
    /// Bytes held at the peak: decoded samples, decoder buffers, and the
    /// largest variant with the resizer's intermediate.
    pub memory: u64,
}

/// Reads only the header: format, stored dimensions, and the decode (and
/// memory) that variants of `sizes` take. Refuses images above `max_pixels`.
pub fn plan(bytes: &[u8], sizes: &[u32], max_pixels: u64) -> Result<Plan, ImagingError> {
    let kind = sniff(bytes).ok_or(ImagingError::Unsupported)?;
    let largest = sizes.iter().copied().max().unwrap_or(u32::MAX);
    let (probe, header, decoded) = match kind {
        Kind::Jpeg => {
            let header = jpeg::markers::header(bytes).ok_or_else(|| ImagingError::Corrupt("bad JPEG header".into()))?;
            (Probe { kind, width: header.width, height: header.height }, Some(header), 0)
        }
        Kind::Heic | Kind::Avif => {
            let (probe, per_pixel) = heif::probe(bytes, kind)?;
            (probe, None, probe.pixels() * per_pixel)
        }
        Kind::Png | Kind::Gif | Kind::Webp => {
            let corrupt = |e: image::ImageError| ImagingError::Corrupt(e.to_string());
            let format = kind.format().expect("the image crate decodes it");
            let decoder = ImageReader::with_format(Cursor::new(bytes), format).into_decoder().map_err(corrupt)?;
            let (width, height) = decoder.dimensions();
            let probe = Probe { kind, width, height };
            // The decoded image, then its 8-bit, flattened copy.
            (probe, None, probe.pixels() * (u64::from(decoder.color_type().bytes_per_pixel()) + 3))
        }
    };
    if probe.pixels() > max_pixels {
        let (width, height) = (probe.width, probe.height);
        return Err(ImagingError::TooLarge { width, height, pixels: probe.pixels(), limit: max_pixels });
    }
    let need = probe.width.max(probe.height).min(largest);
    let scale = header.as_ref().map_or(8, |h| jpeg::scale_for(h, need));
    let decoded = header.as_ref().map_or(decoded, |h| jpeg::memory(h, scale));
    let (w, h) = resize::fit(probe.width, probe.height, need);
    let scaled_height = (u64::from(probe.height) * u64::from(scale)).div_ceil(8);
    let memory = decoded + u64::from(w) * u64::from(h) * 3 + u64::from(w) * scaled_height * 3;
    Ok(Plan { probe, header, scale, memory })
}

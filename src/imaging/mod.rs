//! The resize core: sniff, probe, decode, resize, encode. Everything the
//! rest of imaged needs from it is the few functions here, so the codec and
//! resampler behind them can be swapped without touching the pipeline.

mod integrity;
mod pool;
mod resize;

pub use pool::{CpuPool, PanicError};
pub use resize::{Rendered, Thumbnail, thumbnails};

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

/// The formats imaged accepts, decided from the bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Gif => ImageFormat::Gif,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

pub const SUPPORTED: &str = "JPEG, PNG, GIF or WebP";

/// Every imaging error is permanent: the same bytes fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error("not a supported image (expected {SUPPORTED})")]
    Unsupported,
    #[error("image is {width}x{height} = {pixels} pixels, above the limit of {limit}")]
    TooLarge { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("image data is truncated")]
    Truncated,
    #[error("cannot decode image: {0}")]
    Corrupt(String),
    #[error("cannot encode thumbnail: {0}")]
    Encode(String),
}

/// The format of `bytes`, judged by their magic numbers.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
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

/// Reads only the header: format and stored dimensions.
pub fn probe(bytes: &[u8], max_pixels: u64) -> Result<Probe, ImagingError> {
    let kind = sniff(bytes).ok_or(ImagingError::Unsupported)?;
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), kind.format())
        .into_dimensions()
        .map_err(|e| ImagingError::Corrupt(e.to_string()))?;
    let probe = Probe { kind, width, height };
    if probe.pixels() > max_pixels {
        return Err(ImagingError::TooLarge { width, height, pixels: probe.pixels(), limit: max_pixels });
    }
    Ok(probe)
}

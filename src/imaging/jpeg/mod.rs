//! JPEG decoding with shrink-on-load. The DCT scale is the smallest of
//! 1/8, 1/4, 1/2 and 1 that still leaves the pixels of the largest variant.
//! Progressive files at 1/8 go to the DC-scan decoder, the rest to
//! libjpeg-turbo's scaled IDCT.

mod dc;
mod huffman;
mod libjpeg;
pub mod markers;
mod unfit;
mod ycc;

use super::{ImagingError, color::Samples};
pub use libjpeg::{encode, simd};
pub use markers::Header;

/// The numerator over 8 of the scale whose longest side still has `need` pixels.
pub fn scale_for(header: &Header, need: u32) -> u8 {
    let longest = header.width.max(header.height);
    [1u8, 2, 4].into_iter().find(|&n| (longest * u32::from(n)).div_ceil(8) >= need).unwrap_or(8)
}

/// Whether the DC-scan decoder takes this file at this scale.
pub fn dc_only(header: &Header, scale: u8) -> bool {
    scale == 1 && header.progressive && header.huffman && header.precision == 8 && header.components.len() != 4
}

/// Decodes at `scale`/8, with the pixels of the stored (not yet rotated) image.
pub fn decode(bytes: &[u8], header: &Header, scale: u8) -> Result<Samples, ImagingError> {
    if dc_only(header, scale) {
        // A file the DC path cannot take (an odd scan layout) is libjpeg's.
        if let Ok(samples) = dc::decode(bytes, header).and_then(|planes| ycc::samples(planes, header)) {
            return Ok(samples);
        }
    }
    libjpeg::decode(bytes, header, scale)
}

/// Bytes a decode holds at its peak: the output samples, plus, where
/// libjpeg decodes a progressive file, its whole-image coefficient buffer
/// (64 coefficients of 2 bytes per block of every component).
pub fn memory(header: &Header, scale: u8) -> u64 {
    let pixels = |side: u32| u64::from((side * u32::from(scale)).div_ceil(8));
    let channels = if header.components.len() == 1 { 1 } else { 3 };
    let output = pixels(header.width) * pixels(header.height) * channels;
    let blocks: u64 = header.components.iter().map(|c| header.blocks(c)).map(|(w, h)| (w * h) as u64).sum();
    let coefficients = if dc_only(header, scale) {
        blocks * 4
    } else if header.progressive {
        blocks * 128
    } else {
        0
    };
    output + coefficients
}

#[cfg(test)]
mod tests;

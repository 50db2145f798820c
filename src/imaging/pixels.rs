//! The one in-memory image type of the core: 8-bit grey or RGB, rows
//! packed. Everything is brought to it right after decoding (alpha
//! flattened, CMYK and ICC converted, 16 bits dropped to 8), so resizing
//! and encoding deal with two layouts only.

use fast_image_resize::PixelType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: u8,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn new(width: u32, height: u32, channels: u8, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), width as usize * height as usize * usize::from(channels));
        Self { width, height, channels, data }
    }

    pub fn pixel_type(&self) -> PixelType {
        if self.channels == 1 { PixelType::U8 } else { PixelType::U8x3 }
    }
}

/// JPEG has no alpha: composite onto white rather than expose whatever
/// colour hides under transparent pixels. Done before resizing, which
/// gives the same result as resizing premultiplied colour and compositing
/// after (both steps are linear and resizing keeps white white).
pub fn flatten(data: &[u8], channels: usize) -> Vec<u8> {
    let colour = channels - 1;
    let mut out = vec![0; data.len() / channels * colour];
    for (px, rgb) in data.chunks_exact(channels).zip(out.chunks_exact_mut(colour)) {
        let a = u32::from(px[colour]);
        if a == 255 {
            rgb.copy_from_slice(&px[..colour]);
            continue;
        }
        for (c, o) in px[..colour].iter().zip(rgb) {
            // x / 255, rounded, exact for every x ≤ 255²: no division.
            let x = u32::from(*c) * a + 255 * (255 - a) + 128;
            *o = ((x + (x >> 8)) >> 8) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_rounds_as_dividing_would() {
        for a in 0..=255u32 {
            for c in [0u32, 1, 77, 128, 254, 255] {
                let want = ((c * a + 255 * (255 - a) + 127) / 255) as u8;
                assert_eq!(flatten(&[c as u8, c as u8, a as u8], 3)[0], want, "c {c} a {a}");
            }
        }
    }
}

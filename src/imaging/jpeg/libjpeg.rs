//! libjpeg-turbo, as built from source by mozjpeg-sys: decoding with DCT
//! scaling (baseline files, and progressive ones above 1/8), and encoding.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mozjpeg::{ColorSpace, ColorSpaceExt, Compress, Decompress};

use super::markers::Header;
use crate::imaging::{ImagingError, color::Samples, pixels::Pixels};

/// Decodes at `scale`/8 of the stored size.
pub fn decode(bytes: &[u8], header: &Header, scale: u8) -> Result<Samples, ImagingError> {
    let run = || -> std::io::Result<Samples> {
        let mut d = Decompress::new_mem(bytes)?;
        d.scale(scale);
        let space = d.color_space();
        let mut started = match space {
            ColorSpace::JCS_GRAYSCALE => d.grayscale()?,
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => d.to_colorspace(ColorSpace::JCS_CMYK)?,
            _ => d.rgb()?,
        };
        let (width, height) = (started.width() as u32, started.height() as u32);
        let channels = started.color_space().num_components() as u8;
        let data: Vec<u8> = started.read_scanlines()?;
        started.finish()?;
        Ok(Samples { width, height, channels, data, inverted: header.adobe_transform.is_some() })
    };
    guard(run).map_err(ImagingError::Corrupt)
}

/// Baseline JPEG at `quality` with libjpeg-turbo's settings (mozjpeg's
/// "fastest" profile: no trellis, Annex K tables), 4:2:0 for colour, and
/// optimised Huffman tables, which cost little and save about 5 %.
pub fn encode(pixels: &Pixels, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let run = || -> std::io::Result<Vec<u8>> {
        let space = if pixels.channels == 1 { ColorSpace::JCS_GRAYSCALE } else { ColorSpace::JCS_RGB };
        let mut c = Compress::new(space);
        c.set_fastest_defaults(); // first: it resets every other setting
        c.set_size(pixels.width as usize, pixels.height as usize);
        c.set_quality(f32::from(quality));
        c.set_optimize_coding(true);
        let mut started = c.start_compress(Vec::with_capacity(pixels.data.len() / 8))?;
        started.write_scanlines(&pixels.data)?;
        started.finish()
    };
    guard(run).map_err(ImagingError::Encode)
}

/// libjpeg reports fatal errors by unwinding (mozjpeg's error manager).
fn guard<T>(run: impl FnOnce() -> std::io::Result<T>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => {
            let message = panic.downcast_ref::<String>().map_or("libjpeg error", String::as_str);
            Err(message.trim_start_matches("libjpeg fatal error: ").to_owned())
        }
    }
}

unsafe extern "C" {
    /// libjpeg-turbo's own check: 0 when its SIMD code was left out of the
    /// build (mozjpeg-sys builds it only where it finds `nasm`) or the CPU
    /// lacks the instructions.
    fn jsimd_can_fdct_islow() -> std::ffi::c_int;
}

/// Whether libjpeg-turbo runs its SIMD code here: without it, making
/// thumbnails of JPEGs takes about a fifth longer.
pub fn simd() -> bool {
    // SAFETY: no arguments; it reads the CPU's features once and caches them.
    unsafe { jsimd_can_fdct_islow() != 0 }
}

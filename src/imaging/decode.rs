//! Bytes to upright-ready pixels: JPEG through the scaled decoders, PNG,
//! GIF and WebP through the `image` crate (first frame of an animation),
//! HEIC and AVIF through libheif (the primary image),
//! then alpha flattened, 16 bits dropped to 8 and colour brought to sRGB.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, metadata::Orientation};

use super::{
    ImagingError, Plan,
    color::{self, Samples},
    heif, jpeg,
    pixels::{Pixels, flatten},
};

pub struct Decoded {
    pub pixels: Pixels,
    /// The image's own extent in `pixels`: a scaled decode rounds partial
    /// blocks up, so the last row and column may cover less than a pixel.
    pub extent: (f64, f64),
    pub orientation: Orientation,
}

/// Decoder buffers even the smallest image may need.
const MIN_ALLOC: u64 = 16 << 20;

pub fn decode(bytes: &[u8], plan: &Plan) -> Result<Decoded, ImagingError> {
    match &plan.header {
        Some(header) => {
            let samples = jpeg::decode(bytes, header, plan.scale)?;
            let orientation = header
                .exif
                .as_deref()
                .and_then(|exif| Orientation::from_exif_chunk(&exif[6..]))
                .unwrap_or(Orientation::NoTransforms);
            let factor = f64::from(plan.scale) / 8.0;
            let extent = (f64::from(plan.probe.width) * factor, f64::from(plan.probe.height) * factor);
            let extent = (extent.0.min(f64::from(samples.width)), extent.1.min(f64::from(samples.height)));
            Ok(Decoded { pixels: color::to_srgb(samples, header.icc.as_deref()), extent, orientation })
        }
        None => match plan.probe.kind.format() {
            Some(format) => other(bytes, format, plan.memory),
            None => {
                let pixels = heif::decode(bytes)?;
                let extent = (f64::from(pixels.width), f64::from(pixels.height));
                // libheif has applied the file's rotation and mirroring.
                Ok(Decoded { pixels, extent, orientation: Orientation::NoTransforms })
            }
        },
    }
}

/// The formats the `image` crate decodes. What they may allocate is held
/// to what the plan predicted from the header (and admitted to the pixel
/// budget): a GIF whose frame is far larger than its declared screen is
/// refused, not decoded into gigabytes.
fn other(bytes: &[u8], format: ImageFormat, planned: u64) -> Result<Decoded, ImagingError> {
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => {
            ImagingError::Corrupt("decoding it would take more memory than its header declares".into())
        }
        e => ImagingError::Corrupt(e.to_string()),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(planned.max(MIN_ALLOC));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let (width, height) = (image.width(), image.height());
    let (channels, data) = match (image.color().has_color(), image.color().has_alpha()) {
        (false, false) => (1, image.into_luma8().into_raw()),
        (false, true) => (1, flatten(&image.into_luma_alpha8().into_raw(), 2)),
        (true, false) => (3, image.into_rgb8().into_raw()),
        (true, true) => (3, flatten(&image.into_rgba8().into_raw(), 4)),
    };
    let samples = Samples { width, height, channels, data, inverted: false };
    let extent = (f64::from(width), f64::from(height));
    Ok(Decoded { pixels: color::to_srgb(samples, icc.as_deref()), extent, orientation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gif_frame_far_larger_than_its_screen_is_refused_not_allocated() {
        // Found by the decode fuzz target: an 8×8 screen whose first frame
        // declares 20617×18254 pixels (1.5 GB of RGBA).
        let bomb = include_bytes!("../../fuzz/seeds/images/regression-gif-frame-bomb.gif");
        let plan = crate::imaging::plan(bomb, &[128], 50_000_000).unwrap();
        match decode(bomb, &plan) {
            Err(ImagingError::Corrupt(reason)) => assert!(reason.contains("more memory"), "{reason}"),
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("decoded"),
        }
    }
}

//! Decode once at the DCT scale the largest variant needs, then make each
//! variant from the next larger one (Lanczos3, SIMD), upright per EXIF.

use std::{
    borrow::Cow,
    time::{Duration, Instant},
};

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer, images::ImageRef};
use image::{DynamicImage, GrayImage, RgbImage, metadata::Orientation};

use super::{Format, ImagingError, Kind, Plan, decode, integrity, pixels::Pixels, plan};

/// One encoded variant.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The configured longest side.
    pub size: u32,
    pub width: u32,
    pub height: u32,
    /// The variant in each format asked for, in that order.
    pub encoded: Vec<(Format, Vec<u8>)>,
}

impl Thumbnail {
    /// The variant in `format`, when it was asked for.
    pub fn bytes(&self, format: Format) -> Option<&[u8]> {
        self.encoded.iter().find(|(f, _)| *f == format).map(|(_, bytes)| bytes.as_slice())
    }
}

/// The variants of one image, smallest first, and where the time went.
#[derive(Debug)]
pub struct Rendered {
    pub thumbnails: Vec<Thumbnail>,
    pub decode: Duration,
    pub resize: Duration,
    pub encode: Duration,
}

/// Makes a JPEG of each size (longest side, never upscaled), upright per
/// EXIF, transparent areas on white. CPU-bound: run it on the `CpuPool`.
pub fn thumbnails(bytes: &[u8], sizes: &[u32], quality: u8, max_pixels: u64) -> Result<Rendered, ImagingError> {
    render(bytes, &plan(bytes, sizes, max_pixels)?, sizes, quality, &[Format::Jpeg])
}

/// `thumbnails` in `formats`, with the header already read: `plan` must be
/// the plan of `bytes` for these `sizes` (the pipeline reads it first, to
/// admit the job).
pub fn render(
    bytes: &[u8],
    plan: &Plan,
    sizes: &[u32],
    quality: u8,
    formats: &[Format],
) -> Result<Rendered, ImagingError> {
    render_with(bytes, plan, sizes, |upright| {
        let size = upright.width.max(upright.height);
        formats.iter().map(|&f| Ok((f, f.encode(upright, f.quality(quality, size))?))).collect()
    })
}

/// `render`, with `encode_one` making each size's files of its upright pixels
/// (the quality benchmark keeps the pixels themselves, as the reference).
#[doc(hidden)]
pub fn render_with(
    bytes: &[u8],
    plan: &Plan,
    sizes: &[u32],
    mut encode_one: impl FnMut(&Pixels) -> Result<Vec<(Format, Vec<u8>)>, ImagingError>,
) -> Result<Rendered, ImagingError> {
    let start = Instant::now();
    if plan.probe.kind == Kind::Jpeg && !integrity::jpeg_complete(bytes) {
        return Err(ImagingError::Truncated);
    }
    let decoded = decode::decode(bytes, plan)?;
    let decoded_at = Instant::now();
    let (mut resize, mut encode) = (Duration::ZERO, Duration::ZERO);
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    let mut resizer = Resizer::new();
    let (mut source, mut extent) = (decoded.pixels, decoded.extent);
    let mut thumbnails = Vec::with_capacity(sizes.len());
    for size in sizes {
        let t = Instant::now();
        let (width, height) = fit(plan.probe.width, plan.probe.height, size);
        if (width, height) != (source.width, source.height) {
            source = shrink(&mut resizer, &source, extent, width, height)?;
            extent = (f64::from(width), f64::from(height));
        }
        let upright = orient(&source, decoded.orientation);
        let t2 = Instant::now();
        let encoded = encode_one(&upright)?;
        thumbnails.push(Thumbnail { size, width: upright.width, height: upright.height, encoded });
        resize += t2 - t;
        encode += t2.elapsed();
    }
    thumbnails.reverse();
    Ok(Rendered { thumbnails, decode: decoded_at - start, resize, encode })
}

/// The dimensions that fit `size` on the longest side, keeping the aspect
/// ratio; an image already small enough keeps its own. No side becomes 0.
pub fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= size {
        return (width, height);
    }
    let scale =
        |side: u32| ((u64::from(side) * u64::from(size) + u64::from(longest) / 2) / u64::from(longest)).max(1) as u32;
    (scale(width), scale(height))
}

/// Lanczos3 from the image's extent in `source` to `width`×`height`.
pub fn resize(source: &Pixels, extent: (f64, f64), width: u32, height: u32) -> Result<Pixels, ImagingError> {
    shrink(&mut Resizer::new(), source, extent, width, height)
}

/// As `resize`, reusing the resizer's buffers from one variant to the next.
/// A reduction of more than 3× first averages boxes down to 3× the target
/// (as libvips' shrink does), so Lanczos3's kernel stays 18 taps wide
/// instead of growing with the ratio; the result differs from a direct
/// Lanczos3 by under 0.1 dB.
fn shrink(
    resizer: &mut Resizer,
    source: &Pixels,
    extent: (f64, f64),
    width: u32,
    height: u32,
) -> Result<Pixels, ImagingError> {
    const STEP: u32 = 3;
    let ratio = (extent.0 / f64::from(width)).min(extent.1 / f64::from(height));
    if ratio > f64::from(STEP) + 0.5 {
        let boxed = convolve(resizer, source, extent, width * STEP, height * STEP, FilterType::Box)?;
        let extent = (f64::from(boxed.width), f64::from(boxed.height));
        return convolve(resizer, &boxed, extent, width, height, FilterType::Lanczos3);
    }
    convolve(resizer, source, extent, width, height, FilterType::Lanczos3)
}

fn convolve(
    resizer: &mut Resizer,
    source: &Pixels,
    extent: (f64, f64),
    width: u32,
    height: u32,
    filter: FilterType,
) -> Result<Pixels, ImagingError> {
    let failed = |e: &dyn std::fmt::Display| ImagingError::Corrupt(format!("cannot resize: {e}"));
    let src = ImageRef::new(source.width, source.height, &source.data, source.pixel_type()).map_err(|e| failed(&e))?;
    let mut dst = fast_image_resize::images::Image::new(width, height, source.pixel_type());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)).crop(0.0, 0.0, extent.0, extent.1);
    resizer.resize(&src, &mut dst, &options).map_err(|e| failed(&e))?;
    Ok(Pixels::new(width, height, source.channels, dst.into_vec()))
}

/// Applies the EXIF orientation, so the thumbnail needs no tag (it carries none).
fn orient(pixels: &Pixels, orientation: Orientation) -> Cow<'_, Pixels> {
    if orientation == Orientation::NoTransforms {
        return Cow::Borrowed(pixels);
    }
    let (w, h, data) = (pixels.width, pixels.height, pixels.data.clone());
    let mut image = match pixels.channels {
        1 => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, data).expect("sized by Pixels::new")),
        _ => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, data).expect("sized by Pixels::new")),
    };
    image.apply_orientation(orientation);
    Cow::Owned(Pixels::new(image.width(), image.height(), pixels.channels, image.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::jpeg;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        jpeg::encode(&Pixels::new(width, height, 3, image.into_raw()), 90).unwrap()
    }

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(fit(4000, 3000, 1024), (1024, 768));
        assert_eq!(fit(3000, 4000, 256), (192, 256));
        assert_eq!(fit(100, 50, 256), (100, 50));
        assert_eq!(fit(10_000, 1, 128), (128, 1));
    }

    #[test]
    fn makes_each_size_in_ascending_order() {
        let out = thumbnails(&jpeg(1200, 900), &[1024, 128, 256], 82, 50_000_000).unwrap().thumbnails;
        let dims: Vec<_> = out.iter().map(|t| (t.size, t.width, t.height)).collect();
        assert_eq!(dims, [(128, 128, 96), (256, 256, 192), (1024, 1024, 768)]);
        for t in &out {
            let back = image::load_from_memory(t.bytes(Format::Jpeg).unwrap()).unwrap();
            assert_eq!((back.width(), back.height()), (t.width, t.height));
        }
    }

    #[test]
    fn transparent_pixels_become_white() {
        let mut png = Vec::new();
        let clear = image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]));
        DynamicImage::ImageRgba8(clear).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let out = thumbnails(&png, &[8], 95, 1000).unwrap().thumbnails;
        let back = image::load_from_memory(out[0].bytes(Format::Jpeg).unwrap()).unwrap().to_rgb8();
        assert!(back.pixels().all(|p| p.0.iter().all(|&c| c > 245)), "{:?}", back.get_pixel(0, 0));
    }

    #[test]
    fn refuses_what_is_not_an_image_or_too_large() {
        assert!(matches!(thumbnails(b"hello world", &[128], 82, 1000), Err(ImagingError::Unsupported)));
        assert!(matches!(thumbnails(&jpeg(100, 100), &[128], 82, 9_999), Err(ImagingError::TooLarge { .. })));
    }
}

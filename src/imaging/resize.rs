//! Decode once, then make each variant from the next larger one.

use std::{
    io::Cursor,
    time::{Duration, Instant},
};

use image::{
    DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, codecs::jpeg::JpegEncoder, imageops::FilterType,
};

use super::{ImagingError, Kind, integrity, probe};

/// One encoded variant.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The configured longest side.
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
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
    let start = Instant::now();
    let probe = probe(bytes, max_pixels)?;
    if probe.kind == Kind::Jpeg && !integrity::jpeg_complete(bytes) {
        return Err(ImagingError::Truncated);
    }
    let mut source = decode(bytes, probe.kind.format())?;
    let decoded = Instant::now();
    let (mut resize, mut encode_time) = (Duration::ZERO, Duration::ZERO);
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    let mut thumbnails = Vec::with_capacity(sizes.len());
    for size in sizes {
        let t = Instant::now();
        let (width, height) = fit(source.width(), source.height(), size);
        source = shrink(&source, width, height);
        let flat = flatten(&source);
        let t2 = Instant::now();
        thumbnails.push(Thumbnail { size, width, height, jpeg: encode(&flat, quality)? });
        resize += t2 - t;
        encode_time += t2.elapsed();
    }
    thumbnails.reverse();
    Ok(Rendered { thumbnails, decode: decoded - start, resize, encode: encode_time })
}

fn decode(bytes: &[u8], format: image::ImageFormat) -> Result<DynamicImage, ImagingError> {
    let corrupt = |e: image::ImageError| ImagingError::Corrupt(e.to_string());
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(2 << 30);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The dimensions that fit `size` on the longest side, keeping the aspect
/// ratio; an image already small enough keeps its own.
pub(crate) fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= size {
        return (width, height);
    }
    let scale =
        |side: u32| ((u64::from(side) * u64::from(size) + u64::from(longest) / 2) / u64::from(longest)).max(1) as u32;
    (scale(width), scale(height))
}

/// Area averaging for large reductions (fast, no aliasing), a cubic filter
/// for small ones where averaging would blur.
fn shrink(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    if (width, height) == (image.width(), image.height()) {
        image.clone()
    } else if image.width() >= width * 2 {
        image.thumbnail_exact(width, height)
    } else {
        image.resize_exact(width, height, FilterType::CatmullRom)
    }
}

/// JPEG has no alpha: composite onto white rather than expose whatever
/// colour hides under transparent pixels.
fn flatten(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode_image(image)
        .map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        encode(&image, 90).unwrap()
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
            let back = image::load_from_memory(&t.jpeg).unwrap();
            assert_eq!((back.width(), back.height()), (t.width, t.height));
        }
    }

    #[test]
    fn transparent_pixels_become_white() {
        let mut png = Vec::new();
        let clear = image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]));
        DynamicImage::ImageRgba8(clear).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let out = thumbnails(&png, &[8], 95, 1000).unwrap().thumbnails;
        let back = image::load_from_memory(&out[0].jpeg).unwrap().to_rgb8();
        assert!(back.pixels().all(|p| p.0.iter().all(|&c| c > 245)), "{:?}", back.get_pixel(0, 0));
    }

    #[test]
    fn refuses_what_is_not_an_image_or_too_large() {
        assert!(matches!(thumbnails(b"hello world", &[128], 82, 1000), Err(ImagingError::Unsupported)));
        assert!(matches!(thumbnails(&jpeg(100, 100), &[128], 82, 9_999), Err(ImagingError::TooLarge { .. })));
    }
}

//! What users see of the resize core, format by format: thumbnails upright
//! and untagged, in sRGB, from grey, 16-bit, palette, transparent, CMYK
//! and animated sources, at the right sizes, progressive or not.

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage, codecs::png::PngEncoder};
use imaged::imaging::{self, Format, Thumbnail};
use mozjpeg::{ColorSpace, Compress, Marker};

const LIMIT: u64 = 100_000_000;

fn thumbs(bytes: &[u8], sizes: &[u32]) -> Vec<Thumbnail> {
    imaging::thumbnails(bytes, sizes, 90, LIMIT).unwrap().thumbnails
}

fn decoded(thumb: &Thumbnail) -> RgbImage {
    image::load_from_memory(thumb.bytes(Format::Jpeg).unwrap()).unwrap().to_rgb8()
}

/// A JPEG of `pixels` (RGB, CMYK or grey), with extra APP segments.
fn jpeg(space: ColorSpace, w: u32, h: u32, pixels: &[u8], progressive: bool, apps: &[(u8, &[u8])]) -> Vec<u8> {
    let mut c = Compress::new(space);
    c.set_fastest_defaults();
    c.set_size(w as usize, h as usize);
    c.set_quality(95.0);
    if progressive {
        c.set_progressive_mode();
    }
    let mut started = c.start_compress(Vec::new()).unwrap();
    for &(n, data) in apps {
        started.write_marker(Marker::APP(n), data);
    }
    started.write_scanlines(pixels).unwrap();
    started.finish().unwrap()
}

/// A 300×200 landscape, white with a red square at its top-left corner.
fn marked() -> RgbImage {
    RgbImage::from_fn(300, 200, |x, y| if x < 60 && y < 60 { Rgb([255, 0, 0]) } else { Rgb([255, 255, 255]) })
}

fn exif_orientation(value: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    exif.extend(value.to_be_bytes());
    exif.extend([0, 0, 0, 0, 0, 0]);
    exif
}

fn is_red(p: &Rgb<u8>) -> bool {
    p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60
}

#[test]
fn exif_orientation_is_applied_and_not_carried_over() {
    // Orientation 6: the stored pixels are shown turned 90° clockwise, so
    // the stored top-left corner is displayed at the top right.
    for progressive in [false, true] {
        let stored = marked();
        let bytes = jpeg(ColorSpace::JCS_RGB, 300, 200, stored.as_raw(), progressive, &[(1, &exif_orientation(6))]);
        for thumb in thumbs(&bytes, &[100, 256]) {
            let img = decoded(&thumb);
            assert_eq!((img.width(), img.height()), (thumb.width, thumb.height));
            assert!(thumb.height > thumb.width, "{}: {}x{} is not portrait", thumb.size, thumb.width, thumb.height);
            assert!(
                is_red(img.get_pixel(img.width() - 3, 3)),
                "{}: top right is {:?}",
                thumb.size,
                img.get_pixel(img.width() - 3, 3)
            );
            assert!(!is_red(img.get_pixel(3, 3)), "{}: top left is red", thumb.size);
            assert!(!thumb.bytes(Format::Jpeg).unwrap().windows(4).any(|w| w == b"Exif"), "the thumbnail carries EXIF");
        }
    }
}

#[test]
fn every_variant_keeps_the_aspect_ratio_and_is_never_upscaled() {
    let bytes = jpeg(ColorSpace::JCS_RGB, 300, 200, marked().as_raw(), false, &[]);
    let dims: Vec<_> = thumbs(&bytes, &[1024, 128, 256]).iter().map(|t| (t.size, t.width, t.height)).collect();
    assert_eq!(dims, [(128, 128, 85), (256, 256, 171), (1024, 300, 200)]);
    let strip = jpeg(ColorSpace::JCS_RGB, 3000, 2, &vec![128; 3000 * 2 * 3], true, &[]);
    assert_eq!(thumbs(&strip, &[128]).iter().map(|t| (t.width, t.height)).next(), Some((128, 1)));
}

#[test]
fn a_wide_gamut_profile_is_converted_to_srgb() {
    let p3 = moxcms::ColorProfile::new_display_p3();
    let colour = [40u8, 180, 90];
    let flat: Vec<u8> = colour.iter().copied().cycle().take(64 * 64 * 3).collect();
    let mut chunk = b"ICC_PROFILE\0\x01\x01".to_vec();
    chunk.extend(p3.encode().unwrap());
    let bytes = jpeg(ColorSpace::JCS_RGB, 64, 64, &flat, false, &[(2, &chunk)]);
    let got = decoded(&thumbs(&bytes, &[32])[0]).get_pixel(16, 16).0;
    let want = p3_to_srgb(colour);
    assert!(want.iter().zip(colour).any(|(&a, b)| a.abs_diff(b) > 8), "P3 and sRGB differ on {colour:?}");
    assert!(got.iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 4), "got {got:?}, want {want:?}");
}

fn p3_to_srgb(colour: [u8; 3]) -> [u8; 3] {
    let (p3, srgb) = (moxcms::ColorProfile::new_display_p3(), moxcms::ColorProfile::new_srgb());
    let options = moxcms::TransformOptions::default();
    let transform = p3.create_transform_8bit(moxcms::Layout::Rgb, &srgb, moxcms::Layout::Rgb, options).unwrap();
    let mut out = [0u8; 3];
    transform.transform(&colour, &mut out).unwrap();
    out
}

#[test]
fn cmyk_jpegs_come_out_rgb() {
    // Adobe CMYK as Photoshop and ImageMagick store it: inverted ink.
    // Left half full magenta + yellow (red), right half no ink (white).
    let mut ink = Vec::new();
    for _y in 0..64 {
        for x in 0..64 {
            ink.extend(if x < 32 { [255, 0, 0, 255] } else { [255, 255, 255, 255] });
        }
    }
    let bytes = jpeg(ColorSpace::JCS_CMYK, 64, 64, &ink, false, &[]);
    let img = decoded(&thumbs(&bytes, &[32])[0]);
    assert!(is_red(img.get_pixel(4, 16)), "left is {:?}", img.get_pixel(4, 16));
    assert!(img.get_pixel(28, 16).0.iter().all(|&c| c > 230), "right is {:?}", img.get_pixel(28, 16));
}

#[test]
fn grey_jpegs_stay_grey() {
    let grey: Vec<u8> = (0..200 * 100).map(|i| (i % 200) as u8).collect();
    for progressive in [false, true] {
        let bytes = jpeg(ColorSpace::JCS_GRAYSCALE, 200, 100, &grey, progressive, &[]);
        let thumb = &thumbs(&bytes, &[50])[0];
        let img = image::load_from_memory(thumb.bytes(Format::Jpeg).unwrap()).unwrap();
        assert_eq!(img.color(), image::ColorType::L8);
        assert_eq!((img.width(), img.height()), (50, 25));
    }
}

fn png(image: DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

#[test]
fn sixteen_bit_palette_and_transparent_pngs() {
    let deep = image::ImageBuffer::<Rgb<u16>, _>::from_fn(80, 40, |x, _| Rgb([if x < 40 { 65535 } else { 0 }, 0, 0]));
    let img = decoded(&thumbs(&png(DynamicImage::ImageRgb16(deep)), &[40])[0]);
    assert!(is_red(img.get_pixel(5, 10)) && img.get_pixel(35, 10).0.iter().all(|&c| c < 30));

    // A two-colour palette PNG, written as such.
    let mut indexed = Vec::new();
    png_palette(&mut indexed);
    let img = decoded(&thumbs(&indexed, &[8])[0]);
    assert!(is_red(img.get_pixel(1, 4)) && img.get_pixel(6, 4).0.iter().all(|&c| c > 230), "{:?}", img);

    let clear = RgbaImage::from_fn(40, 40, |x, _| if x < 20 { Rgba([0, 0, 0, 0]) } else { Rgba([255, 0, 0, 255]) });
    let img = decoded(&thumbs(&png(DynamicImage::ImageRgba8(clear)), &[20])[0]);
    assert!(img.get_pixel(3, 10).0.iter().all(|&c| c > 240), "transparent became {:?}", img.get_pixel(3, 10));
    assert!(is_red(img.get_pixel(17, 10)));
}

/// An 8×8 palette PNG: left half red, right half white.
fn png_palette(out: &mut Vec<u8>) {
    let mut encoder = png::Encoder::new(out, 8, 8);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(vec![255, 0, 0, 255, 255, 255]);
    let mut writer = encoder.write_header().unwrap();
    let data: Vec<u8> = (0..64).map(|i| u8::from(i % 8 >= 4)).collect();
    writer.write_image_data(&data).unwrap();
}

#[test]
fn an_animated_gif_gives_its_first_frame() {
    use image::{Delay, Frame, codecs::gif::GifEncoder};
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        for colour in [[255, 0, 0, 255], [0, 0, 255, 255]] {
            let frame = Frame::from_parts(
                RgbaImage::from_pixel(32, 32, Rgba(colour)),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            );
            encoder.encode_frame(frame).unwrap();
        }
    }
    let img = decoded(&thumbs(&gif, &[16])[0]);
    assert!(is_red(img.get_pixel(8, 8)), "first frame is red, got {:?}", img.get_pixel(8, 8));
}

#[test]
fn webp_is_read() {
    let mut webp = Vec::new();
    let img = RgbaImage::from_pixel(40, 20, Rgba([255, 0, 0, 255]));
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(img.as_raw(), 40, 20, image::ExtendedColorType::Rgba8)
        .unwrap();
    let thumb = &thumbs(&webp, &[20])[0];
    assert_eq!((thumb.width, thumb.height), (20, 10));
    assert!(is_red(decoded(thumb).get_pixel(10, 5)));
}

#[test]
fn pngs_with_an_icc_profile_are_converted() {
    let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let mut out = Vec::new();
    let mut encoder = PngEncoder::new(&mut out);
    encoder.set_icc_profile(p3).unwrap();
    let flat = RgbImage::from_pixel(16, 16, Rgb([40, 180, 90]));
    encoder.write_image(flat.as_raw(), 16, 16, image::ExtendedColorType::Rgb8).unwrap();
    let (got, want) = (decoded(&thumbs(&out, &[8])[0]).get_pixel(4, 4).0, p3_to_srgb([40, 180, 90]));
    assert!(got.iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 4), "got {got:?}, want {want:?}");
}

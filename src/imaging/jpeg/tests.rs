//! The DC-scan decoder against libjpeg on the same files: its 1/8 output
//! and the block means of a full decode.

use mozjpeg::{ColorSpace, Compress};

use super::*;

/// A test card: gradients, texture and (when `edges`) sharp-edged squares.
fn card(width: u32, height: u32, channels: u8, edges: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity((width * height * u32::from(channels)) as usize);
    for y in 0..height {
        for x in 0..width {
            let texture = ((x * 7 + y * 13) ^ (x * y)) % 23;
            let edge = if edges && (x / 37 + y / 29) % 2 == 0 { 60 } else { 0 };
            let r = (x * 255 / width + texture + edge).min(255) as u8;
            let g = (y * 255 / height + texture * 2).min(255) as u8;
            let b = ((x + y) * 128 / (width + height) + edge * 2).min(255) as u8;
            out.extend(if channels == 1 { vec![r] } else { vec![r, g, b] });
        }
    }
    out
}

/// A progressive JPEG: `fastest` gives libjpeg's standard script (an
/// interleaved DC scan at Al = 1, refined later); otherwise mozjpeg's
/// optimised scans (DC per component, chosen scan by scan).
fn progressive(width: u32, height: u32, channels: u8, sampling: (u8, u8), fastest: bool) -> Vec<u8> {
    progressive_card(width, height, channels, sampling, fastest, true)
}

fn progressive_card(width: u32, height: u32, channels: u8, sampling: (u8, u8), fastest: bool, edges: bool) -> Vec<u8> {
    let space = if channels == 1 { ColorSpace::JCS_GRAYSCALE } else { ColorSpace::JCS_RGB };
    let mut c = Compress::new(space);
    if fastest {
        c.set_fastest_defaults();
    }
    c.set_size(width as usize, height as usize);
    c.set_quality(90.0);
    if channels == 3 {
        c.set_chroma_sampling_pixel_sizes(sampling, sampling);
    }
    c.set_progressive_mode();
    let mut started = c.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&card(width, height, channels, edges)).unwrap();
    started.finish().unwrap()
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

/// The mean of each 8×8 block of a full decode (partial blocks: their pixels).
fn block_means(full: &Samples) -> Vec<u8> {
    let (w, h, ch) = (full.width as usize, full.height as usize, usize::from(full.channels));
    let mut out = Vec::new();
    for by in 0..h.div_ceil(8) {
        for bx in 0..w.div_ceil(8) {
            for c in 0..ch {
                let (mut sum, mut n) = (0u32, 0u32);
                for y in by * 8..(by * 8 + 8).min(h) {
                    for x in bx * 8..(bx * 8 + 8).min(w) {
                        sum += u32::from(full.data[(y * w + x) * ch + c]);
                        n += 1;
                    }
                }
                out.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    out
}

fn dc_decode(bytes: &[u8]) -> Samples {
    let header = markers::header(bytes).unwrap();
    ycc::samples(dc::decode(bytes, &header).unwrap(), &header).unwrap()
}

#[test]
fn dc_scans_give_libjpegs_eighth_scale_image() {
    for (width, height, channels, sampling, fastest) in [
        (203, 117, 1, (1, 1), true),
        (203, 117, 3, (1, 1), true),
        (640, 480, 3, (1, 1), false),
        (203, 117, 1, (1, 1), false),
    ] {
        let bytes = progressive(width, height, channels, sampling, fastest);
        let header = markers::header(&bytes).unwrap();
        let ours = dc_decode(&bytes);
        let theirs = libjpeg::decode(&bytes, &header, 1).unwrap();
        assert_eq!((ours.width, ours.height, ours.channels), (theirs.width, theirs.height, theirs.channels));
        let worst = ours.data.iter().zip(&theirs.data).map(|(&a, &b)| a.abs_diff(b)).max().unwrap();
        assert!(worst <= 1, "{width}x{height}x{channels} fastest={fastest}: differs by up to {worst}");
    }
}

/// With subsampled chroma the DC image has chroma at half the resolution
/// of libjpeg's (which takes chroma's low AC coefficients too); on smooth
/// content, as photos are at 1/8 scale, the two agree.
#[test]
fn subsampled_dc_images_match_the_block_means_of_a_full_decode() {
    for (width, height, sampling, fastest) in
        [(203, 117, (2, 2), true), (333, 250, (2, 1), false), (640, 480, (2, 2), false)]
    {
        let bytes = progressive_card(width, height, 3, sampling, fastest, false);
        let header = markers::header(&bytes).unwrap();
        let full = libjpeg::decode(&bytes, &header, 8).unwrap();
        let ours = dc_decode(&bytes);
        assert_eq!((ours.width, ours.height), (width.div_ceil(8), height.div_ceil(8)));
        let db = psnr(&ours.data, &block_means(&full));
        assert!(db > 38.0, "{width}x{height} {sampling:?}: {db:.1} dB against the block means");
    }
}

#[test]
fn baseline_files_and_large_scales_are_not_the_dc_decoders() {
    let bytes = encode(&crate::imaging::Pixels::new(64, 64, 3, card(64, 64, 3, true)), 90).unwrap();
    let header = markers::header(&bytes).unwrap();
    assert!(!dc_only(&header, 1));
    assert_eq!(dc::decode(&bytes, &header).err(), Some(unfit::Unfit("not an 8-bit Huffman-coded progressive JPEG")));
    let progressive = markers::header(&progressive(64, 64, 3, (2, 2), true)).unwrap();
    assert!(dc_only(&progressive, 1) && !dc_only(&progressive, 2));
}

#[test]
fn the_scale_keeps_the_largest_variants_pixels() {
    let header = Header { width: 4000, height: 3000, ..Header::default() };
    assert_eq!(scale_for(&header, 256), 1); // 500 px
    assert_eq!(scale_for(&header, 501), 2); // 1000 px
    assert_eq!(scale_for(&header, 1024), 4); // 2000 px
    assert_eq!(scale_for(&header, 2001), 8);
    let odd = Header { width: 2049, height: 10, ..Header::default() };
    assert_eq!(scale_for(&odd, 257), 1); // ceil(2049 / 8) = 257
}

#[test]
fn a_damaged_dc_scan_never_panics() {
    let bytes = progressive(203, 117, 3, (2, 2), true);
    let header = markers::header(&bytes).unwrap();
    for cut in (40..bytes.len()).step_by(97) {
        let mut broken = bytes.clone();
        for b in &mut broken[cut..(cut + 8).min(bytes.len())] {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
        let _ = dc::decode(&broken, &header);
        let _ = dc::decode(&bytes[..cut], &header);
    }
}

#[test]
fn memory_follows_the_scale_and_the_decoder() {
    // 4000×3000 4:2:0: 187 500 luma and 2 × 47 000 chroma blocks.
    let mut header =
        Header { width: 4000, height: 3000, progressive: true, huffman: true, precision: 8, ..Header::default() };
    header.components =
        [(1, 2, 2), (2, 1, 1), (3, 1, 1)].map(|(id, h, v)| markers::Component { id, h, v, quant: 0 }).to_vec();
    let blocks = 187_500 + 2 * 47_000;
    // 1/8 on the DC path: the 500×375 image and a coefficient per block.
    assert_eq!(memory(&header, 1), 500 * 375 * 3 + blocks * 4);
    // 1/2 through libjpeg: the 2000×1500 image and every coefficient.
    assert_eq!(memory(&header, 4), 2000 * 1500 * 3 + blocks * 128);
    header.progressive = false;
    assert_eq!(memory(&header, 4), 2000 * 1500 * 3);
}

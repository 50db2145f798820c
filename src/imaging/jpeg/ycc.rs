//! From the DC decoder's planes to samples: chroma brought up to the luma
//! grid (linear, centred as libjpeg's "fancy" upsampling is), then YCbCr to
//! RGB with JFIF's coefficients.

use super::{dc::Plane, markers::Header, unfit::Unfit};
use crate::imaging::color::Samples;

pub fn samples(planes: Vec<Plane>, header: &Header) -> Result<Samples, Unfit> {
    let (width, height) = (header.width.div_ceil(8), header.height.div_ceil(8));
    let (ow, oh) = (width as usize, height as usize);
    let (max_h, max_v) = (usize::from(header.max_h()), usize::from(header.max_v()));
    let mut full: Vec<Vec<u8>> = header
        .components
        .iter()
        .zip(&planes)
        .map(|(c, plane)| upsample(plane, max_h / usize::from(c.h), max_v / usize::from(c.v), ow, oh))
        .collect();
    let data = match (header.components.len(), full.len()) {
        (1, 1) => full.swap_remove(0),
        (3, 3) if is_rgb(header) => interleave(&full[0], &full[1], &full[2]),
        (3, 3) => ycc_to_rgb(&full[0], &full[1], &full[2]),
        _ => return Err(Unfit("not grey, YCbCr or RGB")),
    };
    Ok(Samples { width, height, channels: header.components.len() as u8, data, inverted: false })
}

/// Adobe's transform flag 0, or JFIF-less files whose components are named R, G, B.
fn is_rgb(header: &Header) -> bool {
    header.adobe_transform == Some(0) || header.components.iter().map(|c| c.id).eq(*b"RGB")
}

/// Stretches a plane by whole factors to `ow`×`oh`, sample centres kept.
fn upsample(plane: &Plane, fx: usize, fy: usize, ow: usize, oh: usize) -> Vec<u8> {
    if fx <= 1 && fy <= 1 {
        return plane.samples.chunks_exact(plane.width).take(oh).flat_map(|row| &row[..ow]).copied().collect();
    }
    let taps = |f: usize, n: usize, len: usize| -> Vec<(usize, usize, u32)> {
        (0..n)
            .map(|o| {
                // Source position of output sample o, in 1/256ths.
                let pos = ((2 * o + 1) * 256 / (2 * f.max(1))).saturating_sub(128);
                let (i, w) = (pos / 256, (pos % 256) as u32);
                (i.min(len - 1), (i + 1).min(len - 1), w)
            })
            .collect()
    };
    let (cols, rows) = (taps(fx, ow, plane.width), taps(fy, oh, plane.height));
    let mut out = Vec::with_capacity(ow * oh);
    let mut line = vec![0u32; plane.width];
    for &(r0, r1, wy) in &rows {
        let (a, b) = (&plane.samples[r0 * plane.width..], &plane.samples[r1 * plane.width..]);
        for (x, v) in line.iter_mut().enumerate() {
            *v = u32::from(a[x]) * (256 - wy) + u32::from(b[x]) * wy;
        }
        out.extend(cols.iter().map(|&(c0, c1, wx)| ((line[c0] * (256 - wx) + line[c1] * wx + (1 << 15)) >> 16) as u8));
    }
    out
}

fn interleave(r: &[u8], g: &[u8], b: &[u8]) -> Vec<u8> {
    r.iter().zip(g).zip(b).flat_map(|((&r, &g), &b)| [r, g, b]).collect()
}

fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8]) -> Vec<u8> {
    const ONE: i32 = 1 << 16;
    let fix = |v: f64| (v * f64::from(ONE)).round() as i32;
    let (rcr, gcb, gcr, bcb) = (fix(1.402), fix(0.344_136), fix(0.714_136), fix(1.772));
    let clamp = |v: i32| ((v + ONE / 2) >> 16).clamp(0, 255) as u8;
    let mut out = Vec::with_capacity(y.len() * 3);
    for ((&y, &cb), &cr) in y.iter().zip(cb).zip(cr) {
        let (y, cb, cr) = (i32::from(y) << 16, i32::from(cb) - 128, i32::from(cr) - 128);
        out.extend([clamp(y + rcr * cr), clamp(y - gcb * cb - gcr * cr), clamp(y + bcb * cb)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_by_two_is_centred_and_keeps_flat_areas_flat() {
        let plane = Plane { width: 2, height: 1, samples: vec![0, 200] };
        assert_eq!(upsample(&plane, 2, 1, 4, 1), [0, 50, 150, 200]);
        let flat = Plane { width: 3, height: 2, samples: vec![77; 6] };
        assert!(upsample(&flat, 2, 2, 5, 3).iter().all(|&v| v == 77));
    }

    #[test]
    fn grey_ycc_is_grey_rgb() {
        assert_eq!(ycc_to_rgb(&[0, 128, 255], &[128; 3], &[128; 3]), [0, 0, 0, 128, 128, 128, 255, 255, 255]);
        assert_eq!(ycc_to_rgb(&[76], &[85], &[255]), [254, 0, 0]);
    }
}

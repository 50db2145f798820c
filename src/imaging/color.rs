//! Colour to sRGB: embedded ICC profiles through moxcms, CMYK (with its
//! profile, or by the usual naive formula without one) to RGB.

use std::borrow::Cow;

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use super::pixels::Pixels;

/// Decoded samples before conversion: 1, 3 or 4 (CMYK) channels.
pub struct Samples {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
    /// Adobe CMYK JPEGs store ink inverted (255 = no ink).
    pub inverted: bool,
}

/// Brings decoded samples to grey or sRGB. A profile that cannot be read
/// or does not match the samples is ignored, as browsers do.
pub fn to_srgb(samples: Samples, icc: Option<&[u8]>) -> Pixels {
    to_srgb_from(samples, icc.and_then(|icc| ColorProfile::new_from_slice(icc).ok()))
}

/// [`to_srgb`] from a profile already read.
pub fn to_srgb_from(samples: Samples, profile: Option<ColorProfile>) -> Pixels {
    let Samples { width, height, channels, data, inverted } = samples;
    match channels {
        4 => {
            if let Some(p) = profile.filter(|p| p.color_space == DataColorSpace::Cmyk) {
                let ink: Cow<'_, [u8]> =
                    if inverted { data.iter().map(|v| 255 - v).collect() } else { Cow::Borrowed(&data) };
                if let Some(rgb) = transform(&p, Layout::Rgba, &ink) {
                    return Pixels::new(width, height, 3, rgb);
                }
            }
            Pixels::new(width, height, 3, naive_cmyk(&data, inverted))
        }
        3 => {
            let rgb = profile.filter(|p| p.color_space == DataColorSpace::Rgb && !is_srgb(p));
            let data = rgb.and_then(|p| transform(&p, Layout::Rgb, &data)).unwrap_or(data);
            Pixels::new(width, height, 3, data)
        }
        _ => Pixels::new(width, height, channels, data),
    }
}

fn transform(profile: &ColorProfile, layout: Layout, data: &[u8]) -> Option<Vec<u8>> {
    let srgb = ColorProfile::new_srgb();
    let executor = profile.create_transform_8bit(layout, &srgb, Layout::Rgb, TransformOptions::default()).ok()?;
    let channels = if layout == Layout::Rgba { 4 } else { 3 };
    let mut out = vec![0; data.len() / channels * 3];
    executor.transform(data, &mut out).ok()?;
    Some(out)
}

/// A profile with sRGB's primaries is taken as sRGB and not applied: most
/// camera files carry one, and a transform that changes nothing is the
/// costliest step of their thumbnail.
fn is_srgb(profile: &ColorProfile) -> bool {
    let srgb = ColorProfile::new_srgb();
    let close = |a: moxcms::Xyzd, b: moxcms::Xyzd| (a.x - b.x).abs() + (a.y - b.y).abs() + (a.z - b.z).abs() < 0.003;
    close(profile.red_colorant, srgb.red_colorant)
        && close(profile.green_colorant, srgb.green_colorant)
        && close(profile.blue_colorant, srgb.blue_colorant)
}

/// R = (1 − C)(1 − K) and so on; with inverted samples that is C·K/255.
fn naive_cmyk(data: &[u8], inverted: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    for px in data.chunks_exact(4) {
        let ink = |v: u8| if inverted { u32::from(v) } else { 255 - u32::from(v) };
        let k = ink(px[3]);
        out.extend(px[..3].iter().map(|&c| ((ink(c) * k + 127) / 255) as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(channels: u8, data: Vec<u8>, inverted: bool) -> Pixels {
        to_srgb(Samples { width: 1, height: 1, channels, data, inverted }, None)
    }

    #[test]
    fn cmyk_without_a_profile_uses_the_naive_formula() {
        assert_eq!(one(4, vec![0, 0, 0, 0], false).data, [255, 255, 255]);
        assert_eq!(one(4, vec![255, 0, 0, 0], false).data, [0, 255, 255]);
        assert_eq!(one(4, vec![255, 255, 255, 255], true).data, [255, 255, 255]);
        assert_eq!(one(4, vec![255, 255, 255, 0], true).data, [0, 0, 0]);
    }

    #[test]
    fn srgb_and_unreadable_profiles_change_nothing() {
        let samples = || Samples { width: 1, height: 1, channels: 3, data: vec![10, 200, 30], inverted: false };
        assert_eq!(to_srgb(samples(), Some(b"not a profile")).data, [10, 200, 30]);
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        assert_eq!(to_srgb(samples(), Some(&srgb)).data, [10, 200, 30]);
    }

    #[test]
    fn a_wide_gamut_profile_is_converted() {
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let out =
            to_srgb(Samples { width: 1, height: 1, channels: 3, data: vec![0, 255, 0], inverted: false }, Some(&p3));
        // P3's pure green lies outside sRGB: it clips to sRGB green with red pulled down to 0.
        assert_eq!(out.data[1], 255);
        assert!(out.data[0] == 0 && out.data[2] < 80, "{:?}", out.data);
    }
}

//! The formats thumbnails are written in, and their encoders: JPEG by
//! libjpeg-turbo (`jpeg::encode`), WebP (lossy) by libwebp, AVIF by
//! libheif's AV1 encoder (libaom).

use std::borrow::Cow;

use super::{ImagingError, Kind, Pixels, heif, jpeg};

/// A thumbnail format. Ordered as a client that accepts them all alike is
/// served: JPEG first, which every client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Webp,
    Avif,
}

/// A name that is not a thumbnail format's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a thumbnail format (jpeg, webp, avif)")]
pub struct UnknownFormat(pub String);

impl Format {
    pub const ALL: [Self; 3] = [Self::Jpeg, Self::Webp, Self::Avif];

    /// How settings, URLs and the database name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Avif => "avif",
        }
    }

    /// The same format as one imaged reads: its type and names are that's.
    fn kind(self) -> Kind {
        match self {
            Self::Jpeg => Kind::Jpeg,
            Self::Webp => Kind::Webp,
            Self::Avif => Kind::Avif,
        }
    }

    pub fn mime(self) -> &'static str {
        self.kind().mime()
    }

    /// The usual file-name extension (`jpg`, `webp`).
    pub fn extension(self) -> &'static str {
        self.kind().extensions()[0]
    }

    /// This format's quality that looks like JPEG at `jpeg_quality` in a
    /// thumbnail whose longest side is `size`: interpolated in the tables
    /// [`WEBP_AT_EQUAL_LOOK`] and [`AVIF_AT_EQUAL_LOOK`] measured on photos.
    pub fn quality(self, jpeg_quality: u8, size: u32) -> u8 {
        match self {
            Self::Jpeg => jpeg_quality,
            Self::Webp => equal_look(&WEBP_AT_EQUAL_LOOK, jpeg_quality, size),
            Self::Avif => equal_look(&AVIF_AT_EQUAL_LOOK, jpeg_quality, size),
        }
    }

    /// `pixels` at `quality` (1–100, each encoder's own scale).
    pub fn encode(self, pixels: &Pixels, quality: u8) -> Result<Vec<u8>, ImagingError> {
        match self {
            Self::Jpeg => jpeg::encode(pixels, quality),
            Self::Webp => webp(&rgb(pixels)?, pixels, quality),
            Self::Avif => heif::encode_avif(&rgb(pixels)?, pixels.width, pixels.height, quality),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, UnknownFormat> {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(Self::Jpeg),
            "webp" => Ok(Self::Webp),
            "avif" => Ok(Self::Avif),
            _ => Err(UnknownFormat(name.to_owned())),
        }
    }
}

impl TryFrom<String> for Format {
    type Error = UnknownFormat;

    fn try_from(name: String) -> Result<Self, UnknownFormat> {
        name.parse()
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The JPEG qualities and thumbnail sizes the tables at equal look were
/// measured at.
const JPEG_QUALITIES: [u8; 3] = [70, 82, 90];
const SIZES: [u32; 3] = [128, 256, 1024];

/// The lowest WebP quality whose mean SSIMULACRA2 (against the lossless
/// resized pixels, over the corpus's 29 photos) reaches JPEG's at each of
/// [`JPEG_QUALITIES`] (rows) and [`SIZES`] (columns): `cargo bench --bench
/// formats` prints it. Small thumbnails need less: a 128 px JPEG loses more
/// to its 4:2:0 colour and 8×8 blocks than WebP does.
const WEBP_AT_EQUAL_LOOK: [[u8; 3]; 3] = [[60, 78, 80], [70, 84, 88], [84, 92, 95]];

/// The same for AVIF (libheif's quality, 0–100, in steps of 5, at
/// libaom's speed [`heif::AVIF_SPEED`]).
const AVIF_AT_EQUAL_LOOK: [[u8; 3]; 3] = [[50, 60, 65], [55, 70, 80], [70, 85, 90]];

/// Linear in `table` between the points measured (in the JPEG quality, and
/// in the size's logarithm), the nearest point's beyond them; rounded up.
fn equal_look(table: &[[u8; 3]; 3], jpeg_quality: u8, size: u32) -> u8 {
    /// Where `x` lies between the two points of `points` around it: their
    /// indices and the weight of the second.
    fn between(points: &[f64], x: f64) -> (usize, usize, f64) {
        let last = points.len() - 1;
        if x <= points[0] {
            return (0, 0, 0.0);
        }
        match points.windows(2).position(|w| x <= w[1]) {
            Some(i) => (i, i + 1, (x - points[i]) / (points[i + 1] - points[i])),
            None => (last, last, 0.0),
        }
    }
    let qualities = JPEG_QUALITIES.map(f64::from);
    let sizes = SIZES.map(|s| f64::from(s).log2());
    let (q0, q1, tq) = between(&qualities, f64::from(jpeg_quality));
    let (s0, s1, ts) = between(&sizes, f64::from(size.max(1)).log2());
    let at = |q: usize, s: usize| f64::from(table[q][s]);
    let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
    let quality = lerp(lerp(at(q0, s0), at(q0, s1), ts), lerp(at(q1, s0), at(q1, s1), ts), tq);
    // Below the lowest JPEG quality measured, keep the distance to it.
    let below = f64::from(JPEG_QUALITIES[0].saturating_sub(jpeg_quality));
    (quality - below).ceil().clamp(1.0, 100.0) as u8
}

/// The samples as RGB: libwebp and libheif's encoder take no grey, so it
/// is spread over three channels.
fn rgb(pixels: &Pixels) -> Result<Cow<'_, [u8]>, ImagingError> {
    match pixels.channels {
        3 => Ok(Cow::Borrowed(&pixels.data)),
        1 => Ok(Cow::Owned(pixels.data.iter().flat_map(|&v| [v, v, v]).collect())),
        n => Err(ImagingError::Encode(format!("{n} channels"))),
    }
}

/// Lossy WebP.
fn webp(rgb: &[u8], pixels: &Pixels, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let encoder = ::webp::Encoder::from_rgb(rgb, pixels.width, pixels.height);
    let mut config = ::webp::WebPConfig::new().map_err(|()| ImagingError::Encode("libwebp's configuration".into()))?;
    config.quality = f32::from(quality);
    // 4 of 0–6: libwebp's default trade of speed for size.
    config.method = 4;
    let encoded = encoder.encode_advanced(&config).map_err(|err| ImagingError::Encode(format!("WebP: {err:?}")))?;
    Ok(encoded.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(channels: u8) -> Pixels {
        let (width, height) = (96, 64);
        let data = (0..width * height * u32::from(channels)).map(|i| (i % 251) as u8).collect();
        Pixels::new(width, height, channels, data)
    }

    #[test]
    fn webp_and_avif_of_rgb_and_grey_decode_at_their_size() {
        for channels in [1, 3] {
            let encoded = Format::Webp.encode(&gradient(channels), 82).unwrap();
            let decoded = image::load_from_memory_with_format(&encoded, image::ImageFormat::WebP).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (96, 64));
            let encoded = Format::Avif.encode(&gradient(channels), 60).unwrap();
            let plan = crate::imaging::plan(&encoded, &[96], 1 << 20).unwrap();
            assert_eq!((plan.probe.kind, plan.probe.width, plan.probe.height), (Kind::Avif, 96, 64));
            let decoded = crate::imaging::stages::decode(&encoded, &plan).unwrap().pixels;
            assert_eq!((decoded.width, decoded.height, decoded.channels), (96, 64, 3));
        }
    }

    #[test]
    fn webp_and_avif_qualities_follow_the_measured_tables_and_lie_between_their_points() {
        for (row, &jpeg) in JPEG_QUALITIES.iter().enumerate() {
            for (column, &size) in SIZES.iter().enumerate() {
                assert_eq!(Format::Webp.quality(jpeg, size), WEBP_AT_EQUAL_LOOK[row][column], "{jpeg} at {size}");
            }
        }
        for (row, &jpeg) in JPEG_QUALITIES.iter().enumerate() {
            for (column, &size) in SIZES.iter().enumerate() {
                assert_eq!(Format::Avif.quality(jpeg, size), AVIF_AT_EQUAL_LOOK[row][column], "{jpeg} at {size}");
            }
        }
        assert_eq!(Format::Jpeg.quality(82, 256), 82);
        let at = |jpeg, size| Format::Webp.quality(jpeg, size);
        assert!((70..=84).contains(&at(82, 180)), "{}", at(82, 180));
        assert!((84..=88).contains(&at(86, 256)), "{}", at(86, 256));
        assert_eq!((at(82, 64), at(82, 4096)), (70, 88), "beyond the sizes measured: the nearest");
        assert_eq!((at(100, 1024), at(50, 128)), (95, 40), "beyond the qualities: clamped, or as far below");
        assert!((1..=100).flat_map(|q| [16, 128, 300, 1024, 8192].map(|s| at(q, s))).all(|q| (1..=100).contains(&q)));
    }

    #[test]
    fn formats_are_named_as_clients_name_them() {
        assert_eq!("JPG".parse::<Format>(), Ok(Format::Jpeg));
        assert_eq!("webp".parse::<Format>(), Ok(Format::Webp));
        assert!("heic".parse::<Format>().unwrap_err().to_string().contains("jpeg, webp, avif"));
        assert!(Format::ALL.iter().all(|f| f.name().parse::<Format>() == Ok(*f)));
        assert_eq!((Format::Jpeg.extension(), Format::Jpeg.mime()), ("jpg", "image/jpeg"));
        assert_eq!((Format::Webp.extension(), Format::Webp.mime()), ("webp", "image/webp"));
        assert_eq!((Format::Avif.extension(), Format::Avif.mime()), ("avif", "image/avif"));
    }
}

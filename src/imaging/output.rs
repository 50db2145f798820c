//! The formats thumbnails are written in, and their encoders: JPEG by
//! libjpeg-turbo (`jpeg::encode`), WebP (lossy) by libwebp.

use super::{ImagingError, Kind, Pixels, jpeg};

/// A thumbnail format. Ordered as a client that accepts them all alike is
/// served: JPEG first, which every client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Webp,
}

/// A name that is not a thumbnail format's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a thumbnail format (jpeg, webp)")]
pub struct UnknownFormat(pub String);

impl Format {
    pub const ALL: [Self; 2] = [Self::Jpeg, Self::Webp];

    /// How settings, URLs and the database name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
        }
    }

    /// The same format as one imaged reads: its type and names are that's.
    fn kind(self) -> Kind {
        match self {
            Self::Jpeg => Kind::Jpeg,
            Self::Webp => Kind::Webp,
        }
    }

    pub fn mime(self) -> &'static str {
        self.kind().mime()
    }

    /// The usual file-name extension (`jpg`, `webp`).
    pub fn extension(self) -> &'static str {
        self.kind().extensions()[0]
    }

    /// `pixels` at `quality` (1–100, each encoder's own scale).
    pub fn encode(self, pixels: &Pixels, quality: u8) -> Result<Vec<u8>, ImagingError> {
        match self {
            Self::Jpeg => jpeg::encode(pixels, quality),
            Self::Webp => webp(pixels, quality),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, UnknownFormat> {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(Self::Jpeg),
            "webp" => Ok(Self::Webp),
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

/// Lossy WebP. libwebp takes RGB only: grey is spread over three channels.
fn webp(pixels: &Pixels, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let rgb = match pixels.channels {
        3 => std::borrow::Cow::Borrowed(&pixels.data),
        1 => std::borrow::Cow::Owned(pixels.data.iter().flat_map(|&v| [v, v, v]).collect()),
        n => return Err(ImagingError::Encode(format!("{n} channels"))),
    };
    let encoder = ::webp::Encoder::from_rgb(&rgb, pixels.width, pixels.height);
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
    fn webp_of_rgb_and_grey_decodes_at_its_size() {
        for channels in [1, 3] {
            let encoded = Format::Webp.encode(&gradient(channels), 82).unwrap();
            let decoded = image::load_from_memory_with_format(&encoded, image::ImageFormat::WebP).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (96, 64));
        }
    }

    #[test]
    fn formats_are_named_as_clients_name_them() {
        assert_eq!("JPG".parse::<Format>(), Ok(Format::Jpeg));
        assert_eq!("webp".parse::<Format>(), Ok(Format::Webp));
        assert!("avif".parse::<Format>().unwrap_err().to_string().contains("jpeg, webp"));
        assert!(Format::ALL.iter().all(|f| f.name().parse::<Format>() == Ok(*f)));
        assert_eq!((Format::Jpeg.extension(), Format::Jpeg.mime()), ("jpg", "image/jpeg"));
        assert_eq!((Format::Webp.extension(), Format::Webp.mime()), ("webp", "image/webp"));
    }
}

//! The formats thumbnails are written in, and their encoders: JPEG by
//! libjpeg-turbo (`jpeg::encode`), WebP (lossy) by libwebp.

use super::{ImagingError, Kind, Pixels, jpeg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Webp,
}

impl Format {
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
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(Self::Jpeg),
            "webp" => Ok(Self::Webp),
            other => Err(format!("{other:?} is not a thumbnail format (jpeg, webp)")),
        }
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
        assert!("avif".parse::<Format>().unwrap_err().contains("jpeg, webp"));
        assert_eq!((Format::Jpeg.extension(), Format::Jpeg.mime()), ("jpg", "image/jpeg"));
        assert_eq!((Format::Webp.extension(), Format::Webp.mime()), ("webp", "image/webp"));
    }
}

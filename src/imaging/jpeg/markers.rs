//! JPEG segments, read without decoding: the frame header, the tables and
//! scan headers the DC decoder needs, and the metadata (EXIF orientation,
//! ICC profile, Adobe colour transform) the rest of the core needs.

/// What the header of a JPEG says, up to its first scan.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub precision: u8,
    pub progressive: bool,
    /// Huffman-coded baseline, extended or progressive; lossless and
    /// arithmetic-coded frames are left to libjpeg, which refuses them.
    pub huffman: bool,
    pub components: Vec<Component>,
    /// The Adobe APP14 transform flag: 0 = none (RGB or CMYK), 1 = YCbCr, 2 = YCCK.
    pub adobe_transform: Option<u8>,
    /// The EXIF APP1 payload, from its "Exif\0\0" signature on.
    pub exif: Option<Vec<u8>>,
    pub icc: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Component {
    pub id: u8,
    pub h: u8,
    pub v: u8,
    pub quant: u8,
}

impl Header {
    pub fn max_h(&self) -> u8 {
        self.components.iter().map(|c| c.h).max().unwrap_or(1)
    }

    pub fn max_v(&self) -> u8 {
        self.components.iter().map(|c| c.v).max().unwrap_or(1)
    }

    /// The 8×8 blocks that hold a component's samples, across and down
    /// (A.2.1: the component's own size, rounded up to whole blocks).
    pub fn blocks(&self, c: &Component) -> (usize, usize) {
        let side = |len: u32, f: u8, max: u8| (len as usize * usize::from(f)).div_ceil(8 * usize::from(max));
        (side(self.width, c.h, self.max_h()), side(self.height, c.v, self.max_v()))
    }
}

/// One segment: its marker and its payload (after the length field).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub marker: u8,
    pub data: &'a [u8],
    /// The offset just past the segment, where a scan's entropy-coded data starts.
    pub end: usize,
}

pub const SOF0: u8 = 0xC0;
pub const SOF1: u8 = 0xC1;
pub const SOF2: u8 = 0xC2;
pub const DHT: u8 = 0xC4;
pub const SOI: u8 = 0xD8;
pub const EOI: u8 = 0xD9;
pub const SOS: u8 = 0xDA;
pub const DQT: u8 = 0xDB;
pub const DRI: u8 = 0xDD;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;

/// The segment whose marker starts at `at` (fill bytes skipped), or `None`
/// when the bytes there are not a well-formed segment. EOI has no payload.
pub fn segment(bytes: &[u8], mut at: usize) -> Option<Segment<'_>> {
    if *bytes.get(at)? != 0xFF {
        return None;
    }
    while *bytes.get(at + 1)? == 0xFF {
        at += 1;
    }
    let marker = bytes[at + 1];
    if marker == EOI || marker == SOI || (0xD0..=0xD7).contains(&marker) {
        return Some(Segment { marker, data: &[], end: at + 2 });
    }
    let len = usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
    let end = at + 2 + len;
    if len < 2 || end > bytes.len() {
        return None;
    }
    Some(Segment { marker, data: &bytes[at + 4..end], end })
}

/// The offset of the next marker at or after `at` in entropy-coded data:
/// a 0xFF that is neither stuffing (FF 00) nor a restart marker. A memchr
/// per 0xFF, so skipping a scan costs about what reading its bytes does.
pub fn skip_entropy(bytes: &[u8], mut at: usize) -> usize {
    while let Some(i) = memchr::memchr(0xFF, &bytes[at.min(bytes.len())..]) {
        let ff = at + i;
        match bytes.get(ff + 1) {
            None => return bytes.len(),
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => at = ff + 1,
            Some(_) => return ff,
        }
    }
    bytes.len()
}

/// Reads the header up to the first scan.
pub fn header(bytes: &[u8]) -> Option<Header> {
    if bytes.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut header = Header::default();
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut at = 2;
    loop {
        let seg = segment(bytes, at)?;
        at = seg.end;
        match seg.marker {
            0xC0..=0xCF if ![DHT, 0xC8, 0xCC].contains(&seg.marker) => frame(&mut header, seg)?,
            APP1 if seg.data.starts_with(b"Exif\0\0") && header.exif.is_none() => {
                header.exif = Some(seg.data.to_vec());
            }
            APP2 if seg.data.len() > 14 && seg.data.starts_with(b"ICC_PROFILE\0") => {
                icc_chunks.push((seg.data[12], &seg.data[14..]));
            }
            APP14 if seg.data.len() >= 12 && seg.data.starts_with(b"Adobe") => {
                header.adobe_transform = Some(seg.data[11]);
            }
            SOS => break,
            EOI => return None,
            _ => {}
        }
    }
    if header.components.is_empty() {
        return None;
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|(seq, _)| *seq);
        header.icc = Some(icc_chunks.into_iter().flat_map(|(_, d)| d.iter().copied()).collect());
    }
    Some(header)
}

fn frame(header: &mut Header, seg: Segment<'_>) -> Option<()> {
    let d = seg.data;
    let count = usize::from(*d.get(5)?);
    if d.len() < 6 + 3 * count || count == 0 {
        return None;
    }
    header.precision = d[0];
    header.height = u32::from(u16::from_be_bytes([d[1], d[2]]));
    header.width = u32::from(u16::from_be_bytes([d[3], d[4]]));
    header.progressive = seg.marker == SOF2;
    header.huffman = matches!(seg.marker, SOF0 | SOF1 | SOF2);
    header.components = d[6..6 + 3 * count]
        .chunks_exact(3)
        .map(|c| Component { id: c[0], h: c[1] >> 4, v: c[1] & 0x0F, quant: c[2] })
        .collect();
    let valid = header.components.iter().all(|c| (1..=4).contains(&c.h) && (1..=4).contains(&c.v) && c.quant < 4);
    (valid && header.width > 0 && header.height > 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers_past_stuffing_and_restarts() {
        let data = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF, 0xC4, 0x00];
        assert_eq!(skip_entropy(&data, 0), 8);
        assert_eq!(skip_entropy(&data[..6], 0), 6);
        assert_eq!(skip_entropy(&[0x00, 0xFF], 0), 2);
    }

    #[test]
    fn refuses_what_is_not_a_jpeg_header() {
        assert!(header(b"").is_none());
        assert!(header(&[0xFF, 0xD8, 0xFF, 0xD9]).is_none());
        assert!(header(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x40]).is_none());
    }
}

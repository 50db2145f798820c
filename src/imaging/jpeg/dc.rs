//! A 1/8-scale decoder for progressive JPEGs that reads only their DC scans.
//!
//! At 1/8 scale the inverse DCT of a block keeps only its DC coefficient,
//! the block's mean. A progressive file stores those in DC scans (a first
//! pass and, usually, a one-bit refinement near the end); every AC scan in
//! between, over 90 % of the entropy-coded bytes, is stepped over by
//! searching for its closing marker instead of being Huffman-decoded.
//! libjpeg and libvips decode every AC scan even at 1/8 scale.

use super::{
    huffman::{Bits, Huffman},
    markers::{self, DHT, DQT, DRI, EOI, Header, SOS},
    unfit::Unfit,
};

/// A component's plane: one sample per 8×8 block, as the IDCT at 1/8
/// scale would give it.
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub samples: Vec<u8>,
}

/// Decodes the DC coefficients of a progressive, Huffman-coded, 8-bit JPEG:
/// a plane per component.
pub fn decode(bytes: &[u8], header: &Header) -> Result<Vec<Plane>, Unfit> {
    if !header.progressive || !header.huffman || header.precision != 8 {
        return Err(Unfit("not an 8-bit Huffman-coded progressive JPEG"));
    }
    let mut state = State::new(header);
    let mut at = 2;
    loop {
        let seg = markers::segment(bytes, at).ok_or(Unfit("malformed segment"))?;
        at = seg.end;
        match seg.marker {
            DHT => state.huffman_tables(seg.data)?,
            DQT => state.quant_tables(seg.data)?,
            DRI => state.restart = usize::from(u16::from_be_bytes(two(seg.data)?)),
            SOS => {
                let end = markers::skip_entropy(bytes, at);
                state.scan(seg.data, &bytes[at..end])?;
                at = end;
            }
            EOI => break,
            _ => {}
        }
    }
    state.finish()
}

fn two(d: &[u8]) -> Result<[u8; 2], Unfit> {
    d.get(..2).map(|s| [s[0], s[1]]).ok_or(Unfit("short segment"))
}

struct CompState {
    h: usize,
    v: usize,
    quant: usize,
    /// Blocks that hold image data, as a non-interleaved scan visits them.
    blocks_w: usize,
    blocks_h: usize,
    /// Blocks as the MCUs of an interleaved scan cover them (≥ the above).
    stride: usize,
    coefs: Vec<i32>,
    seen: bool,
}

struct State {
    comps: Vec<CompState>,
    ids: Vec<u8>,
    mcus_w: usize,
    mcus_h: usize,
    restart: usize,
    dc_tables: [Option<Huffman>; 4],
    quant: [Option<u16>; 4],
}

impl State {
    fn new(header: &Header) -> Self {
        let (max_h, max_v) = (usize::from(header.max_h()), usize::from(header.max_v()));
        let (w, h) = (header.width as usize, header.height as usize);
        let mcus_w = w.div_ceil(8 * max_h);
        let mcus_h = h.div_ceil(8 * max_v);
        let comps = header
            .components
            .iter()
            .map(|c| {
                let (ch, cv) = (usize::from(c.h), usize::from(c.v));
                let stride = mcus_w * ch;
                let (blocks_w, blocks_h) = header.blocks(c);
                CompState {
                    h: ch,
                    v: cv,
                    quant: usize::from(c.quant),
                    blocks_w,
                    blocks_h,
                    stride,
                    coefs: vec![0; stride * mcus_h * cv],
                    seen: false,
                }
            })
            .collect();
        Self {
            comps,
            ids: header.components.iter().map(|c| c.id).collect(),
            mcus_w,
            mcus_h,
            restart: 0,
            dc_tables: Default::default(),
            quant: [None; 4],
        }
    }

    fn huffman_tables(&mut self, mut d: &[u8]) -> Result<(), Unfit> {
        while !d.is_empty() {
            let (class, id) = (d[0] >> 4, usize::from(d[0] & 0x0F));
            let counts: [u8; 16] = d.get(1..17).and_then(|c| c.try_into().ok()).ok_or(Unfit("short DHT"))?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let values = d.get(17..17 + total).ok_or(Unfit("short DHT"))?;
            if id > 3 {
                return Err(Unfit("bad Huffman table id"));
            }
            if class == 0 {
                self.dc_tables[id] = Some(Huffman::new(&counts, values)?);
            }
            d = &d[17 + total..];
        }
        Ok(())
    }

    fn quant_tables(&mut self, mut d: &[u8]) -> Result<(), Unfit> {
        while !d.is_empty() {
            let (wide, id) = (d[0] >> 4 != 0, usize::from(d[0] & 0x0F));
            let len = if wide { 128 } else { 64 };
            let table = d.get(1..1 + len).ok_or(Unfit("short DQT"))?;
            if id > 3 {
                return Err(Unfit("bad quantisation table id"));
            }
            self.quant[id] = Some(if wide { u16::from_be_bytes([table[0], table[1]]) } else { u16::from(table[0]) });
            d = &d[1 + len..];
        }
        Ok(())
    }

    /// One scan: DC scans are decoded, AC scans (already skipped) ignored.
    fn scan(&mut self, head: &[u8], data: &[u8]) -> Result<(), Unfit> {
        let count = usize::from(*head.first().ok_or(Unfit("short SOS"))?);
        let tail = head.get(1 + 2 * count..4 + 2 * count).ok_or(Unfit("short SOS"))?;
        let (ss, ah, al) = (tail[0], tail[2] >> 4, tail[2] & 0x0F);
        if ss != 0 {
            return Ok(());
        }
        let mut members = Vec::with_capacity(count);
        for pair in head[1..1 + 2 * count].chunks_exact(2) {
            let index = self.ids.iter().position(|&id| id == pair[0]).ok_or(Unfit("scan of an unknown component"))?;
            members.push((index, usize::from(pair[1] >> 4)));
        }
        let mut tables = Vec::with_capacity(count);
        for &(index, table) in &members {
            self.comps[index].seen = true;
            let first =
                if ah == 0 { Some(self.dc_tables[table & 3].clone().ok_or(Unfit("missing DC table"))?) } else { None };
            tables.push(first);
        }
        let mut bits = Bits::new(data);
        let mut preds = vec![0i32; count];
        let (restart, mut units) = (self.restart, 0usize);
        let mut after_unit = |bits: &mut Bits<'_>, preds: &mut [i32]| {
            units += 1;
            if restart > 0 && units % restart == 0 {
                bits.restart();
                preds.fill(0);
            }
        };
        if count == 1 {
            let c = &mut self.comps[members[0].0];
            for by in 0..c.blocks_h {
                for bx in 0..c.blocks_w {
                    block(&mut bits, tables[0].as_ref(), &mut preds[0], &mut c.coefs[by * c.stride + bx], al)?;
                    after_unit(&mut bits, &mut preds);
                }
            }
            return Ok(());
        }
        for my in 0..self.mcus_h {
            for mx in 0..self.mcus_w {
                for (slot, &(index, _)) in members.iter().enumerate() {
                    let c = &mut self.comps[index];
                    for v in 0..c.v {
                        for h in 0..c.h {
                            let at = (my * c.v + v) * c.stride + mx * c.h + h;
                            block(&mut bits, tables[slot].as_ref(), &mut preds[slot], &mut c.coefs[at], al)?;
                        }
                    }
                }
                after_unit(&mut bits, &mut preds);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<Plane>, Unfit> {
        let mut planes = Vec::with_capacity(self.comps.len());
        for c in &self.comps {
            if !c.seen {
                return Err(Unfit("a component has no DC scan"));
            }
            let q = i32::from(self.quant[c.quant].ok_or(Unfit("missing quantisation table"))?);
            let mut samples = Vec::with_capacity(c.blocks_w * c.blocks_h);
            for row in c.coefs.chunks_exact(c.stride).take(c.blocks_h) {
                samples.extend(row[..c.blocks_w].iter().map(|&dc| {
                    // libjpeg's 1×1 IDCT: dequantise, descale by 8, level shift.
                    (((dc.wrapping_mul(q) + 4) >> 3) + 128).clamp(0, 255) as u8
                }));
            }
            planes.push(Plane { width: c.blocks_w, height: c.blocks_h, samples });
        }
        Ok(planes)
    }
}

/// One block of a DC scan: a first pass sets the coefficient's high bits
/// from a Huffman-coded difference, a refinement pass adds one more bit.
fn block(bits: &mut Bits<'_>, first: Option<&Huffman>, pred: &mut i32, coef: &mut i32, al: u8) -> Result<(), Unfit> {
    match first {
        Some(table) => {
            *pred = pred.wrapping_add(bits.dc_diff(table).ok_or(Unfit("bad Huffman code"))?);
            *coef = pred.wrapping_shl(u32::from(al));
        }
        None => *coef |= (bits.bit() as i32) << al,
    }
    Ok(())
}

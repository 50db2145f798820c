//! Huffman tables and the bit reader of entropy-coded JPEG data.

use super::unfit::Unfit;

const LOOKUP_BITS: u32 = 9;

/// A canonical Huffman table: a 9-bit lookup for short codes, the
/// per-length code ranges of JPEG's decoding procedure (F.2.2.3) for the rest.
#[derive(Clone)]
pub struct Huffman {
    /// (code length, symbol) by the next 9 bits; length 0 = longer code.
    lookup: Box<[(u8, u8)]>,
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    pub fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, Unfit> {
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS].into_boxed_slice();
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16usize {
            let n = usize::from(counts[len - 1]);
            offset[len] = k as i32 - code;
            for _ in 0..n {
                let symbol = *values.get(k).ok_or(Unfit("short DHT"))?;
                if len as u32 <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - len as u32;
                    let first = (code as usize) << shift;
                    for entry in lookup.get_mut(first..first + (1 << shift)).ok_or(Unfit("bad Huffman table"))? {
                        *entry = (len as u8, symbol);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                max_code[len] = code - 1;
            }
            if code > 1 << len {
                return Err(Unfit("bad Huffman table"));
            }
            code <<= 1;
        }
        Ok(Self { lookup, max_code, offset, values: values.to_vec() })
    }
}

/// Reads bits most significant first, taking FF 00 as FF and stopping at
/// any marker; past one it reads zeros, as libjpeg does.
pub struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, acc: 0, count: 0, at_marker: false }
    }

    fn refill(&mut self) {
        while self.count <= 56 {
            let mut byte = 0;
            if !self.at_marker {
                match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                    (Some(0xFF), Some(0x00)) => (byte, self.pos) = (0xFF, self.pos + 2),
                    (Some(0xFF), _) | (None, _) => self.at_marker = true,
                    (Some(&b), _) => (byte, self.pos) = (b, self.pos + 1),
                }
            }
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.refill();
        }
        (self.acc >> (64 - n)) as u32
    }

    fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.count -= n;
    }

    pub fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    pub fn bit(&mut self) -> u32 {
        self.bits(1)
    }

    pub fn symbol(&mut self, table: &Huffman) -> Option<u8> {
        let (len, symbol) = table.lookup[self.peek(LOOKUP_BITS) as usize];
        if len > 0 {
            self.consume(u32::from(len));
            return Some(symbol);
        }
        let code = self.peek(16) as i32;
        for len in LOOKUP_BITS as usize + 1..=16 {
            let prefix = code >> (16 - len);
            if prefix <= table.max_code[len] {
                self.consume(len as u32);
                return table.values.get((prefix + table.offset[len]) as usize).copied();
            }
        }
        None
    }

    /// A DC difference: its magnitude category, then that many bits
    /// (F.2.2.1, EXTEND).
    pub fn dc_diff(&mut self, table: &Huffman) -> Option<i32> {
        let size = u32::from(self.symbol(table)?);
        if size > 16 {
            return None;
        }
        let v = self.bits(size) as i32;
        Some(if size > 0 && v < 1 << (size - 1) { v - (1 << size) + 1 } else { v })
    }

    /// Drops the bits left before a restart marker and steps over it.
    pub fn restart(&mut self) {
        (self.acc, self.count, self.at_marker) = (0, 0, false);
        let rest = &self.data[self.pos.min(self.data.len())..];
        if let Some(i) = rest.windows(2).position(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1])) {
            self.pos += i + 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_canonical_codes_and_extends_differences() {
        // Codes: 0 → symbol 0 (len 1), 10 → symbol 2 (len 2), 11 → symbol 3 (len 2).
        let mut counts = [0u8; 16];
        counts[0] = 1;
        counts[1] = 2;
        let table = Huffman::new(&counts, &[0, 2, 3]).unwrap();
        // 0 | 10 01 | 11 111 | padding → 0, -2, +7
        let data = [0b0100_1111, 0b1100_0000];
        let mut bits = Bits::new(&data);
        assert_eq!(bits.dc_diff(&table), Some(0));
        assert_eq!(bits.dc_diff(&table), Some(-2));
        assert_eq!(bits.dc_diff(&table), Some(7));
    }

    #[test]
    fn reads_stuffed_ff_and_zeros_after_a_marker() {
        let data = [0xFF, 0x00, 0xAA, 0xFF, 0xD9];
        let mut bits = Bits::new(&data);
        assert_eq!(bits.bits(16), 0xFFAA);
        assert_eq!(bits.bits(16), 0);
    }

    #[test]
    fn refuses_an_oversubscribed_table() {
        let mut counts = [0u8; 16];
        counts[0] = 3;
        assert!(Huffman::new(&counts, &[0, 1, 2]).is_err());
    }
}

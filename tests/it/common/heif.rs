//! HEIC and AVIF files as phones write them, made here: libheif's
//! `heif-enc` encodes a tile (a quadrant pattern: red, green / blue,
//! white), then the container is rewritten around it, as a grid of that
//! tile, with an `irot` rotation or an `imir` mirroring, none of which
//! libheif 1.15 writes itself. The same writer makes the hostile files: a
//! grid whose declared size no tile backs.

#[derive(Debug, Clone, Copy)]
pub enum Codec {
    Hevc,
    Av1,
}

/// How the tile is laid out in the file.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Tiles down and across; 1 × 1 without `declared` is a plain image.
    pub rows: u8,
    pub columns: u8,
    /// The grid's size as declared, if not the tiles' own.
    pub declared: Option<(u32, u32)>,
    /// Quarter turns anticlockwise (the `irot` property), applied on decode.
    pub irot: u8,
    /// A mirroring (the `imir` property, its axis), applied after `irot`.
    pub imir: Option<u8>,
}

impl Layout {
    pub const PLAIN: Self = Self { rows: 1, columns: 1, declared: None, irot: 0, imir: None };
}

/// The tile's quadrant colours, top left, top right, bottom left, bottom right.
pub const QUADRANTS: [[u8; 3]; 4] = [[230, 20, 20], [20, 200, 20], [20, 20, 230], [250, 250, 250]];

/// A HEIF of one `width` × `height` tile of [`QUADRANTS`] laid out by `layout`.
pub fn heif(codec: Codec, width: u32, height: u32, layout: Layout) -> Vec<u8> {
    let tile = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb(QUADRANTS[usize::from(y >= height / 2) * 2 + usize::from(x >= width / 2)])
    });
    heif_of(codec, &tile, layout, None)
}

/// A HEIF of `tile` laid out by `layout`, its colour box (`colr`: `nclx`
/// or `prof`, with its content) replaced by `colour` when given.
pub fn heif_of(codec: Codec, tile: &image::RgbImage, layout: Layout, colour: Option<(&[u8; 4], &[u8])>) -> Vec<u8> {
    let colour = colour.map(|(kind, body)| bx(b"colr", &[&kind[..], body].concat()));
    rewrite(&encode(codec, tile), codec, tile.width(), tile.height(), layout, colour)
}

/// The tile, encoded by Debian's `heif-enc` (libheif-examples).
fn encode(codec: Codec, tile: &image::RgbImage) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (png, out) = (dir.path().join("tile.png"), dir.path().join("tile.heif"));
    tile.save(&png).unwrap();
    let mut command = std::process::Command::new("heif-enc");
    command.args(["--quality", "90", "--output"]).arg(&out).arg(&png);
    if let Codec::Av1 = codec {
        command.arg("--avif");
    }
    let status = command.status().expect("heif-enc (Debian's libheif-examples; scripts/test installs it)");
    assert!(status.success(), "heif-enc: {status}");
    std::fs::read(out).unwrap()
}

/// The top-level boxes of `bytes`, or a box's children: (type, body).
fn boxes(mut bytes: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        let size = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push((bytes[4..8].try_into().unwrap(), &bytes[8..size]));
        bytes = &bytes[size..];
    }
    out
}

fn child<'a>(parent: &'a [u8], name: &[u8; 4]) -> &'a [u8] {
    boxes(parent).into_iter().find(|(t, _)| t == name).unwrap_or_else(|| panic!("no {name:?} box")).1
}

fn bx(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
    [&(body.len() as u32 + 8).to_be_bytes()[..], name, body].concat()
}

/// A full box: version 0 or 1, no flags.
fn full(name: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    bx(name, &[&[version, 0, 0, 0][..], body].concat())
}

fn rewrite(encoded: &[u8], codec: Codec, width: u32, height: u32, layout: Layout, colour: Option<Vec<u8>>) -> Vec<u8> {
    let top = boxes(encoded);
    let find = |name: &[u8; 4]| top.iter().find(|(t, _)| t == name).unwrap().1;
    let (ftyp, mdat) = (bx(b"ftyp", find(b"ftyp")), find(b"mdat"));
    let ipco = child(child(&find(b"meta")[4..], b"iprp"), b"ipco");
    // The coded tile's own properties (decoder configuration, colour, pixel
    // depth), without its size, which each item here declares anew.
    let mut own: Vec<Vec<u8>> = boxes(ipco).into_iter().filter(|(t, _)| t != b"ispe").map(|(t, b)| bx(&t, b)).collect();
    if let Some(colour) = colour {
        own.retain(|property| &property[4..8] != b"colr");
        own.push(colour);
    }
    let grid = layout.rows * layout.columns > 1 || layout.declared.is_some();
    let tiles = u16::from(layout.rows) * u16::from(layout.columns);
    let primary = if grid { tiles + 1 } else { 1 };
    let size = layout.declared.unwrap_or((width * u32::from(layout.columns), height * u32::from(layout.rows)));

    let ispe = |(w, h): (u32, u32)| full(b"ispe", 0, &[w.to_be_bytes(), h.to_be_bytes()].concat());
    let mut properties = own.clone();
    properties.push(ispe((width, height)));
    properties.push(ispe(size));
    properties.push(bx(b"irot", &[layout.irot & 3]));
    properties.push(bx(b"imir", &[layout.imir.unwrap_or(0) & 1]));
    let (tile_ispe, grid_ispe, irot) = (own.len() as u8 + 1, own.len() as u8 + 2, own.len() as u8 + 3);
    let imir = irot + 1;
    let mut ipma = (u32::from(primary)).to_be_bytes().to_vec();
    for item in 1..=primary {
        let mut links: Vec<u8> = if item == primary && grid {
            vec![grid_ispe]
        } else {
            (1..=own.len() as u8).map(|i| 0x80 | i).chain([tile_ispe]).collect()
        };
        if item == primary && layout.irot != 0 {
            links.push(0x80 | irot);
        }
        if item == primary && layout.imir.is_some() {
            links.push(0x80 | imir);
        }
        ipma.extend(item.to_be_bytes());
        ipma.push(links.len() as u8);
        ipma.extend(links);
    }
    let iprp = bx(b"iprp", &[bx(b"ipco", &properties.concat()), full(b"ipma", 0, &ipma)].concat());

    let tile_type: &[u8; 4] = match codec {
        Codec::Hevc => b"hvc1",
        Codec::Av1 => b"av01",
    };
    let mut iinf = primary.to_be_bytes().to_vec();
    for item in 1..=primary {
        let kind = if item == primary && grid { b"grid" } else { tile_type };
        iinf.extend(full(b"infe", 2, &[&item.to_be_bytes()[..], &[0, 0], kind, &[0]].concat()));
    }
    let descriptor: Vec<u8> =
        [&[0u8, 1, layout.rows - 1, layout.columns - 1][..], &size.0.to_be_bytes(), &size.1.to_be_bytes()].concat();
    let iref = grid.then(|| {
        let refs: Vec<u8> = (1..=tiles).flat_map(u16::to_be_bytes).collect();
        full(b"iref", 0, &bx(b"dimg", &[&primary.to_be_bytes()[..], &tiles.to_be_bytes(), &refs].concat()))
    });

    // Every tile item points at the one coded tile in `mdat`; the grid's
    // descriptor lies in `idat` (construction method 1).
    let meta = |data_at: u32| {
        let mut iloc = vec![0x44, 0x00];
        iloc.extend(primary.to_be_bytes());
        for item in 1..=primary {
            let (method, offset, length) = if item == primary && grid {
                (1u16, 0, descriptor.len() as u32)
            } else {
                (0, data_at, mdat.len() as u32)
            };
            for field in [item, method, 0, 1] {
                iloc.extend(field.to_be_bytes());
            }
            iloc.extend(offset.to_be_bytes());
            iloc.extend(length.to_be_bytes());
        }
        let hdlr = full(b"hdlr", 0, &[&[0u8; 4][..], b"pict", &[0; 13]].concat());
        let pitm = full(b"pitm", 0, &primary.to_be_bytes());
        let mut body = [hdlr, pitm, full(b"iloc", 1, &iloc), full(b"iinf", 0, &iinf)].concat();
        body.extend(iref.clone().unwrap_or_default());
        body.extend(&iprp);
        if grid {
            body.extend(bx(b"idat", &descriptor));
        }
        full(b"meta", 0, &body)
    };
    let data_at = (ftyp.len() + meta(0).len() + 8) as u32;
    [ftyp, meta(data_at), bx(b"mdat", mdat)].concat()
}

//! Bytes at equal look: WebP and AVIF against JPEG at a few qualities, each
//! scored by SSIMULACRA2 against the lossless reference (the upright,
//! resized pixels before any encoder) on the corpus's photos; for each JPEG
//! quality and size, the lowest WebP and AVIF quality whose mean score
//! reaches JPEG's; each encoder's time. `imaging::Format::quality` is set
//! from what it prints.
//!
//! `IMAGED_CORPUS=DIR cargo bench --bench formats`, DIR made by
//! `scripts/corpus` (its MANIFEST.tsv names the photos). Prints Markdown.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use imaged::imaging::{self, Format, Pixels};
use ssimulacra2::{ColorPrimaries, Rgb, TransferCharacteristic, compute_frame_ssimulacra2};

const SIZES: [u32; 3] = [128, 256, 1024];
const JPEG_QUALITIES: [u8; 3] = [70, 82, 90];
const WEBP_QUALITIES: [u8; 16] = [60, 64, 68, 70, 72, 74, 76, 78, 80, 82, 84, 86, 88, 90, 92, 95];
const AVIF_QUALITIES: [u8; 14] = [30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95];
const LIMIT: u64 = 100_000_000;

/// One encoder setting's results over the photos at one size.
#[derive(Default)]
struct Tally {
    score: f64,
    bytes: usize,
    took: Duration,
    n: usize,
}

impl Tally {
    fn add(&mut self, reference: &Pixels, encoded: &[u8], took: Duration) {
        self.score += score(reference, encoded);
        self.bytes += encoded.len();
        self.took += took;
        self.n += 1;
    }

    fn mean_score(&self) -> f64 {
        self.score / self.n as f64
    }

    fn mean_ms(&self) -> f64 {
        self.took.as_secs_f64() * 1e3 / self.n as f64
    }
}

fn photos(corpus: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("DIR/MANIFEST.tsv, from scripts/corpus");
    let mut lines = manifest.lines().map(|line| line.split('\t').collect::<Vec<_>>());
    let header = lines.next().unwrap_or_default();
    let column = |name: &str| header.iter().position(|&c| c == name).expect("MANIFEST.tsv names its columns");
    let (file, class) = (column("file"), column("class"));
    let mut photos: Vec<PathBuf> =
        lines.filter(|fields| fields.get(class) == Some(&"photo")).map(|fields| corpus.join(fields[file])).collect();
    photos.sort();
    photos
}

/// Each size's upright pixels (largest first, as `render` makes them).
fn references(bytes: &[u8]) -> Vec<Pixels> {
    let plan = imaging::plan(bytes, &SIZES, LIMIT).unwrap();
    let mut kept = Vec::new();
    imaging::render_with(bytes, &plan, &SIZES, |upright| {
        kept.push(upright.clone());
        Ok(Vec::new())
    })
    .unwrap();
    kept
}

fn rgb(width: u32, height: u32, data: Vec<[f32; 3]>) -> Rgb {
    Rgb::new(data, width as usize, height as usize, TransferCharacteristic::SRGB, ColorPrimaries::BT709).unwrap()
}

fn score(reference: &Pixels, encoded: &[u8]) -> f64 {
    let channels = usize::from(reference.channels);
    let source = reference
        .data
        .chunks_exact(channels)
        .map(|p| if channels == 1 { [p[0]; 3] } else { [p[0], p[1], p[2]] })
        .map(|p| p.map(|v| f32::from(v) / 255.0))
        .collect();
    let distorted = decode(encoded).chunks_exact(3).map(|p| [p[0], p[1], p[2]].map(|v| f32::from(v) / 255.0)).collect();
    let (width, height) = (reference.width, reference.height);
    compute_frame_ssimulacra2(rgb(width, height, source), rgb(width, height, distorted)).unwrap()
}

/// JPEG and WebP by the `image` crate (a second opinion), AVIF by imaged's
/// own reader (libheif), which the `image` crate lacks here.
fn decode(encoded: &[u8]) -> Vec<u8> {
    match imaging::sniff(encoded) {
        Some(imaging::Kind::Avif) => {
            let plan = imaging::plan(encoded, &[u32::MAX], LIMIT).unwrap();
            let pixels = imaging::stages::decode(encoded, &plan).unwrap().pixels;
            assert_eq!(pixels.channels, 3);
            pixels.data
        }
        _ => image::load_from_memory(encoded).unwrap().to_rgb8().into_raw(),
    }
}

fn timed(format: Format, pixels: &Pixels, quality: u8) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let encoded = format.encode(pixels, quality).unwrap();
    (encoded, started.elapsed())
}

fn main() {
    let Some(corpus) = std::env::var_os("IMAGED_CORPUS") else {
        eprintln!("formats: set IMAGED_CORPUS to a folder made by scripts/corpus");
        return;
    };
    let photos = photos(Path::new(&corpus));
    // A tally per size and quality.
    let tallies = |qualities: usize| -> Vec<Vec<Tally>> {
        SIZES.iter().map(|_| (0..qualities).map(|_| Tally::default()).collect()).collect()
    };
    let mut jpeg = tallies(JPEG_QUALITIES.len());
    let others = [(Format::Webp, &WEBP_QUALITIES[..]), (Format::Avif, &AVIF_QUALITIES[..])];
    let mut other: Vec<Vec<Vec<Tally>>> = others.iter().map(|(_, qualities)| tallies(qualities.len())).collect();
    for photo in &photos {
        let references = references(&std::fs::read(photo).unwrap());
        // Largest first: index i of SIZES is references[len - 1 - i].
        for (i, reference) in references.iter().rev().enumerate() {
            let runs = std::iter::once((Format::Jpeg, &JPEG_QUALITIES[..], &mut jpeg[i]))
                .chain(others.iter().zip(&mut other).map(|((format, qualities), t)| (*format, *qualities, &mut t[i])));
            for (format, qualities, tallies) in runs {
                for (tally, &quality) in tallies.iter_mut().zip(qualities) {
                    let (encoded, took) = timed(format, reference, quality);
                    tally.add(reference, &encoded, took);
                }
            }
        }
    }

    println!(
        "{} photos; JPEG by libjpeg-turbo, WebP by libwebp (method 4), AVIF by libheif's libaom (speed {}).",
        photos.len(),
        imaging::AVIF_SPEED
    );
    for ((format, qualities), tallies) in others.iter().zip(&other) {
        println!(
            "\n| JPEG quality | size | JPEG SSIMULACRA2 | JPEG KB | JPEG encode ms | {format} quality at equal look | {format} SSIMULACRA2 | {format} KB | bytes ×JPEG | {format} encode ms |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (k, jpeg_quality) in JPEG_QUALITIES.iter().enumerate() {
            for (i, size) in SIZES.iter().enumerate() {
                let base = &jpeg[i][k];
                let kb = |t: &Tally| t.bytes as f64 / 1024.0;
                let head = format!(
                    "| {jpeg_quality} | {size} | {:.2} | {:.0} | {:.2} |",
                    base.mean_score(),
                    kb(base),
                    base.mean_ms()
                );
                match tallies[i].iter().position(|t| t.mean_score() >= base.mean_score()) {
                    Some(j) => {
                        let t = &tallies[i][j];
                        println!(
                            "{head} {} | {:.2} | {:.0} | {:.2} | {:.2} |",
                            qualities[j],
                            t.mean_score(),
                            kb(t),
                            t.bytes as f64 / base.bytes as f64,
                            t.mean_ms()
                        );
                    }
                    None => println!("{head} above {} | | | | |", qualities[qualities.len() - 1]),
                }
            }
        }
    }
}

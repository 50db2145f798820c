//! The resize core, stage by stage and whole, on a 12-megapixel baseline
//! JPEG, its progressive twin and a PNG, at 128, 256 and 1024 px.
//!
//! The sources are synthetic (photo-like noise over gradients, so entropy
//! decoding has real work); real files can stand in for them:
//! `IMAGED_BENCH_BASELINE=a.jpg IMAGED_BENCH_PROGRESSIVE=b.jpg
//! IMAGED_BENCH_PNG=c.png cargo bench`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use image::{DynamicImage, RgbImage};
use imaged::imaging::{self, Pixels, stages};
use mozjpeg::{ColorSpace, Compress};

const SIZES: [u32; 3] = [128, 256, 1024];
const LIMIT: u64 = 100_000_000;

fn photo_like(width: u32, height: u32) -> RgbImage {
    let mut seed = 0x2545_f491_u32;
    RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 24) as u8;
        let r = (x * 200 / width) as u8 + noise;
        let g = (y * 180 / height) as u8 + noise / 2;
        let b = ((x + y) * 150 / (width + height)) as u8 + noise;
        image::Rgb([r, g, b])
    })
}

fn jpeg(image: &RgbImage, progressive: bool) -> Vec<u8> {
    let mut c = Compress::new(ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(image.width() as usize, image.height() as usize);
    c.set_quality(90.0);
    if progressive {
        c.set_progressive_mode();
    }
    let mut started = c.start_compress(Vec::new()).unwrap();
    started.write_scanlines(image.as_raw()).unwrap();
    started.finish().unwrap()
}

fn sources() -> Vec<(&'static str, Vec<u8>)> {
    let read = |var: &str| std::env::var(var).ok().map(|path| std::fs::read(path).expect("bench file is readable"));
    let photo = photo_like(4000, 3000);
    let png = || {
        let mut out = std::io::Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(photo_like(2560, 1600)).write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    vec![
        ("baseline", read("IMAGED_BENCH_BASELINE").unwrap_or_else(|| jpeg(&photo, false))),
        ("progressive", read("IMAGED_BENCH_PROGRESSIVE").unwrap_or_else(|| jpeg(&photo, true))),
        ("png", read("IMAGED_BENCH_PNG").unwrap_or_else(png)),
    ]
}

fn benches(c: &mut Criterion) {
    for (name, bytes) in sources() {
        let mut group = c.benchmark_group(name);
        group.sample_size(10).throughput(Throughput::Elements(1));
        for size in SIZES {
            let plan = imaging::plan(&bytes, &[size], LIMIT).unwrap();
            group.bench_with_input(BenchmarkId::new("decode", size), &plan, |b, plan| {
                b.iter(|| stages::decode(black_box(&bytes), plan).unwrap())
            });
            let decoded = stages::decode(&bytes, &plan).unwrap();
            let (w, h) = stages::fit(plan.probe.width, plan.probe.height, size);
            group.bench_function(BenchmarkId::new("resize", size), |b| {
                b.iter(|| stages::resize(black_box(&decoded.pixels), decoded.extent, w, h).unwrap())
            });
            let small: Pixels = stages::resize(&decoded.pixels, decoded.extent, w, h).unwrap();
            group.bench_function(BenchmarkId::new("encode q82", size), |b| {
                b.iter(|| stages::encode(black_box(&small), 82).unwrap())
            });
            group.bench_function(BenchmarkId::new("thumbnail", size), |b| {
                b.iter(|| imaging::thumbnails(black_box(&bytes), &[size], 82, LIMIT).unwrap())
            });
        }
        group.bench_function("thumbnails 128+256+1024", |b| {
            b.iter(|| imaging::thumbnails(black_box(&bytes), &SIZES, 82, LIMIT).unwrap())
        });
        group.finish();
    }
}

criterion_group!(thumbnail, benches);
criterion_main!(thumbnail);

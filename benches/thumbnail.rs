//! The resize core on one image: all configured variants from a JPEG.
//! `IMAGED_BENCH_IMAGE=path.jpg cargo bench` measures a real photo instead
//! of the synthetic 12-megapixel one.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::{DynamicImage, RgbImage};

fn source() -> (String, Vec<u8>) {
    if let Ok(path) = std::env::var("IMAGED_BENCH_IMAGE") {
        let bytes = std::fs::read(&path).expect("IMAGED_BENCH_IMAGE is readable");
        return (path, bytes);
    }
    let (w, h) = (4000, 3000);
    let img =
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x ^ y) & 0xff) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    ("synthetic 4000x3000".into(), out.into_inner())
}

fn thumbnails(c: &mut Criterion) {
    let (name, bytes) = source();
    let mut group = c.benchmark_group("thumbnails");
    group.sample_size(10).throughput(Throughput::Elements(1));
    group.bench_function(format!("128+256+1024 q82, {name}"), |b| {
        b.iter(|| imaged::imaging::thumbnails(&bytes, &[128, 256, 1024], 82, 100_000_000).unwrap())
    });
    group.bench_function(format!("256 q80, {name}"), |b| {
        b.iter(|| imaged::imaging::thumbnails(&bytes, &[256], 80, 100_000_000).unwrap())
    });
    group.finish();
}

criterion_group!(benches, thumbnails);
criterion_main!(benches);

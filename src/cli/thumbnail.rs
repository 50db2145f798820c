//! `imaged thumbnail`: the daemon's resize core on local files, for
//! backfills and benchmarks, one image per thread. Writes
//! `DIR/<stem>-<size>.jpg` (`<name>-<size>.jpg` for inputs whose stems
//! are alike; `.webp`, `.avif` with `--format webp`, `avif`), never over a file unless told
//! to, and prints each file it wrote.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use rayon::prelude::*;

use crate::{config::Settings, imaging};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Longest side; repeat for several (default: processing.sizes).
    #[arg(long = "size", value_name = "N")]
    sizes: Vec<u32>,
    /// JPEG quality, 1–100 (default: processing.quality); WebP gets the
    /// quality that looks the same.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,
    /// jpeg, webp or avif; repeat for several (default: jpeg).
    #[arg(long = "format", value_name = "FORMAT")]
    formats: Vec<imaging::Format>,
    /// Images decoded at once, one per thread (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// The folder the thumbnails go to (made if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace thumbnails that are already in DIR (otherwise an error).
    #[arg(long)]
    overwrite: bool,
    /// Also print each image's timings and a summary.
    #[arg(short, long)]
    verbose: bool,
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// One input and the name its thumbnails take.
struct Input<'a> {
    file: &'a Path,
    name: String,
}

/// What one input gave.
struct Made {
    written: Vec<String>,
    pixels: (u32, u32),
    took: Duration,
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<()> {
    let p = &settings.processing;
    let sizes = if args.sizes.is_empty() { p.sizes.clone() } else { args.sizes.clone() };
    if sizes.contains(&0) {
        anyhow::bail!("--size must be at least 1");
    }
    let quality = args.quality.unwrap_or(p.quality);
    let formats = if args.formats.is_empty() { vec![imaging::Format::Jpeg] } else { args.formats.clone() };
    if args.out.exists() && !args.out.is_dir() {
        anyhow::bail!("--out {}: is a file, not a folder", args.out.display());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating --out {}", args.out.display()))?;
    let jobs = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), usize::from);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let started = Instant::now();
    let inputs = inputs(&args.files);
    let results: Vec<(&Input, anyhow::Result<Made>)> = pool.install(|| {
        inputs.par_iter().map(|input| (input, one(input, &args, &sizes, &formats, quality, p.max_pixels))).collect()
    });
    report(&results, &args, started.elapsed())
}

/// Each file's name for its thumbnails: its stem, or its whole file name
/// where two files share a stem (`pic.png`, `pic.webp`).
fn inputs(files: &[PathBuf]) -> Vec<Input<'_>> {
    let stem = |file: &Path| file.file_stem().and_then(|s| s.to_str()).unwrap_or("image").to_owned();
    let mut count: HashMap<String, usize> = HashMap::new();
    for file in files {
        *count.entry(stem(file)).or_default() += 1;
    }
    files
        .iter()
        .map(|file| {
            let name = match count[&stem(file)] {
                1 => stem(file),
                _ => file.file_name().and_then(|s| s.to_str()).map_or_else(|| stem(file), str::to_owned),
            };
            Input { file, name }
        })
        .collect()
}

fn one(
    input: &Input,
    args: &Args,
    sizes: &[u32],
    formats: &[imaging::Format],
    quality: u8,
    max_pixels: u64,
) -> anyhow::Result<Made> {
    let started = Instant::now();
    let bytes = std::fs::read(input.file).context("reading it")?;
    let plan = imaging::plan(&bytes, sizes, max_pixels)?;
    let rendered = imaging::render(&bytes, &plan, sizes, quality, formats)?;
    let pixels = (plan.probe.width, plan.probe.height);
    let mut written = Vec::new();
    for thumb in rendered.thumbnails {
        for (format, bytes) in &thumb.encoded {
            let path = args.out.join(format!("{}-{}.{}", input.name, thumb.size, format.extension()));
            write(&path, bytes, args.overwrite)?;
            written.push(format!("{} ({}×{}, {} bytes)", path.display(), thumb.width, thumb.height, bytes.len()));
        }
    }
    Ok(Made { written, pixels, took: started.elapsed() })
}

/// Writes `bytes` to a new file at `path`, or over one with `overwrite`.
fn write(path: &Path, bytes: &[u8], overwrite: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    match overwrite {
        true => options.write(true).create(true).truncate(true),
        false => options.write(true).create_new(true),
    };
    let mut file = options.open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists already (--overwrite replaces it)", path.display())
        }
        _ => anyhow::Error::new(err).context(format!("writing {}", path.display())),
    })?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// Prints what was written (and, verbose, the timings), then each failure
/// with its file.
fn report(results: &[(&Input, anyhow::Result<Made>)], args: &Args, took: Duration) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (mut failed, mut thumbnails) = (0, 0);
    for (input, result) in results {
        match result {
            Ok(made) => {
                thumbnails += made.written.len();
                for line in &made.written {
                    writeln!(out, "wrote {line}")?;
                }
                if args.verbose {
                    let (w, h) = made.pixels;
                    writeln!(out, "{}: {w}×{h} in {:.1} ms", input.file.display(), made.took.as_secs_f64() * 1e3)?;
                }
            }
            Err(err) => {
                failed += 1;
                eprintln!("{}: {err:#}", input.file.display());
            }
        }
    }
    if args.verbose {
        let files = results.len() - failed;
        let rate = files as f64 / took.as_secs_f64().max(1e-9);
        writeln!(out, "{files} images, {thumbnails} thumbnails in {:.2} s ({rate:.1} images/s)", took.as_secs_f64())?;
    }
    match failed {
        0 => Ok(()),
        _ => anyhow::bail!("{failed} of {} files failed", results.len()),
    }
}

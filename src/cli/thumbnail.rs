//! `imaged thumbnail`: the daemon's resize core on local files, for
//! backfills and benchmarks, one image per thread. Writes
//! `DIR/<stem>-<size>.jpg`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::{config::Settings, imaging};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Longest side; repeat for several (default: processing.sizes).
    #[arg(long = "size", value_name = "N")]
    sizes: Vec<u32>,
    /// JPEG quality (default: processing.quality).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,
    /// Images decoded at once, one per thread (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<()> {
    let p = &settings.processing;
    let sizes = if args.sizes.is_empty() { p.sizes.clone() } else { args.sizes };
    if sizes.contains(&0) {
        anyhow::bail!("--size must be at least 1");
    }
    let quality = args.quality.unwrap_or(p.quality);
    std::fs::create_dir_all(&args.out)?;
    let jobs = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), usize::from);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let failures: Vec<String> = pool.install(|| {
        args.files
            .par_iter()
            .filter_map(|file| {
                one(file, &args.out, &sizes, quality, p.max_pixels).err().map(|e| format!("{}: {e:#}", file.display()))
            })
            .collect()
    });
    for failure in &failures {
        eprintln!("{failure}");
    }
    if failures.is_empty() { Ok(()) } else { anyhow::bail!("{} of {} files failed", failures.len(), args.files.len()) }
}

fn one(file: &Path, out: &Path, sizes: &[u32], quality: u8, max_pixels: u64) -> anyhow::Result<()> {
    let bytes = std::fs::read(file)?;
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
    for thumb in imaging::thumbnails(&bytes, sizes, quality, max_pixels)?.thumbnails {
        std::fs::write(out.join(format!("{stem}-{}.jpg", thumb.size)), thumb.jpeg)?;
    }
    Ok(())
}

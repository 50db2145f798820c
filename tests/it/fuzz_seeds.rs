//! The fuzz targets' properties on every seed in `fuzz/seeds`, among them
//! the regressions earlier fuzzing found: on stable, in the test command.
//! Fuzzing itself (nightly, generated inputs) is `scripts/fuzz`.

use std::path::PathBuf;

/// The files of `fuzz/seeds/<folder>`, with their names.
fn seeds(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(folder);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 5, "the seeds of {} are missing", dir.display());
    seeds
}

#[test]
fn every_message_seed_parses_or_is_refused_without_a_panic() {
    for (name, bytes) in seeds("messages") {
        let body = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{name} is not UTF-8"));
        imaged::fuzz::message(&body);
    }
}

#[test]
fn every_image_seed_is_probed_and_made_or_refused_without_a_panic() {
    for (name, bytes) in seeds("images") {
        println!("{name}");
        imaged::fuzz::probe(&bytes);
        imaged::fuzz::decode(&bytes);
        // Cut short, as an interrupted upload is.
        imaged::fuzz::probe(&bytes[..bytes.len() / 2]);
        imaged::fuzz::decode(&bytes[..bytes.len() / 2]);
    }
}

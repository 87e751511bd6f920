//! Prepares the files the collector serves for embedding: the repository's `www/`, `pkg/` and
//! `models/` copied into `$OUT_DIR/site/raw/`, and each file that shrinks by a tenth or more also
//! brotli- and gzip-compressed (`site/br/`, `site/gz/`), so the binary runs from any folder and
//! never compresses a file per request. A folder that does not exist yet (`pkg/` before
//! `scripts/build.sh`) is left out with a warning; the build runs again once it appears.

use std::collections::BTreeSet;
use std::error::Error;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The served folders, relative to the repository.
const FOLDERS: [&str; 3] = ["www", "pkg", "models"];
/// A variant is kept only when at most this fraction of the file's size.
const WORTH_IT: f64 = 0.9;

fn main() -> Result<(), Box<dyn Error>> {
    let repo = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../..");
    let site = PathBuf::from(std::env::var("OUT_DIR")?).join("site");
    println!("cargo::rerun-if-changed=build.rs");
    let mut files = BTreeSet::new();
    for folder in FOLDERS {
        let from = repo.join(folder);
        println!("cargo::rerun-if-changed={}", from.display());
        if from.is_dir() {
            list(&from, folder, &mut files)?;
        } else {
            println!("cargo::warning=the collector embeds no {folder}/ (run scripts/build.sh first for the package)");
        }
    }
    for variant in ["raw", "br", "gz"] {
        remove_others(&site.join(variant), &files)?;
    }
    for file in &files {
        let bytes = fs::read(repo.join(file))?;
        let raw = site.join("raw").join(file);
        // Unchanged since the last build: its variants are still right, and brotli is slow.
        if fs::read(&raw).is_ok_and(|old| old == bytes) {
            continue;
        }
        write(&raw, &bytes)?;
        let gzip = gzip(&bytes)?;
        keep_if_smaller(&site.join("gz").join(file), &gzip, bytes.len())?;
        let brotli = brotli(&bytes)?;
        keep_if_smaller(&site.join("br").join(file), &brotli, bytes.len())?;
    }
    Ok(())
}

/// Adds the files under `dir` (named `prefix/...`) to `files`, skipping hidden ones.
fn list(dir: &Path, prefix: &str, files: &mut BTreeSet<String>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = format!("{prefix}/{name}");
        if entry.file_type()?.is_dir() {
            list(&entry.path(), &path, files)?;
        } else {
            files.insert(path);
        }
    }
    Ok(())
}

/// Deletes the files under `dir` that are not in `files` any more.
fn remove_others(dir: &Path, files: &BTreeSet<String>) -> Result<(), Box<dyn Error>> {
    let mut present = BTreeSet::new();
    if dir.is_dir() {
        list(dir, "", &mut present)?;
    }
    for path in present {
        let relative = path.trim_start_matches('/');
        if !files.contains(relative) {
            fs::remove_file(dir.join(relative))?;
        }
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Box<dyn Error>> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, bytes)?;
    Ok(())
}

fn keep_if_smaller(path: &Path, compressed: &[u8], size: usize) -> Result<(), Box<dyn Error>> {
    if (compressed.len() as f64) <= WORTH_IT * size as f64 {
        write(path, compressed)
    } else {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

fn brotli(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

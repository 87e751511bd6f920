//! A bundle's memory requirement, measured natively: the most heap that loading it from its files
//! (their bytes included), verifying it and one batch of [`MEMORY_BATCH_ROWS`] holdout rows
//! allocate at once, above what was allocated before, as the `wasm-predict` binary's counting
//! allocator sees it. `bundle` states it with a margin ([`maximum_for`]), `verify` measures again.
//!
//! Natively the same calls allocate at least what they allocate in wasm32: the data is the same,
//! and every pointer and length is 8 bytes instead of 4.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use wasm_predict::manifest::{Manifest, MemoryRequirement, MEMORY_BATCH_ROWS, PLAN_FILE};
use wasm_predict::Predictor;

mod counting;

pub use counting::CountingAlloc;

/// The allocation granule of a wasm memory: it grows by 64 KiB pages.
const PAGE: u64 = 64 * 1024;

/// The requirement stated for a measured peak: half as much again, rounded up to whole 64 KiB
/// pages. The half covers what a run on another CPU may allocate more (kernels pick their
/// layouts by the CPU's features) and what a wasm allocator adds per allocation.
pub fn maximum_for(measured: u64) -> u64 {
    measured
        .saturating_add(measured / 2)
        .div_ceil(PAGE)
        .saturating_mul(PAGE)
        .max(PAGE)
}

/// The requirement `bundle` states for a measured peak.
pub fn requirement_for(measured: u64) -> MemoryRequirement {
    MemoryRequirement {
        maximum_bytes: maximum_for(measured),
        measured_bytes: Some(measured),
    }
}

/// The peak heap of the bundle at `dir` (see the module's doc), in bytes. Runs on a thread of its
/// own, so that what a thread keeps once built (the ONNX importer's op register) is counted as
/// the first load in a browser counts it.
pub fn measure(dir: &Path) -> Result<u64> {
    let manifest =
        std::fs::read(dir.join("manifest.json")).with_context(|| format!("{}: no manifest.json", dir.display()))?;
    let file = match Manifest::from_json(&manifest) {
        Ok(m) if m.plan.is_some() => PLAN_FILE,
        _ => "model.onnx",
    };
    drop(manifest);
    std::thread::scope(|scope| {
        scope
            .spawn(|| peak_of_load(dir, file))
            .join()
            .unwrap_or_else(|_| Err(anyhow!("{}: measuring its memory failed", dir.display())))
    })
}

/// Loads the bundle at `dir` from `file` as the browser shell does, and returns the peak heap
/// above what was allocated before.
fn peak_of_load(dir: &Path, file: &str) -> Result<u64> {
    let (loaded, peak) = counting::measure_peak(|| -> Result<()> {
        let manifest = std::fs::read(dir.join("manifest.json"))?;
        let model = std::fs::read(dir.join(file)).with_context(|| format!("reading {}", dir.join(file).display()))?;
        let mut predictor =
            Predictor::load_model_file(&manifest, &model).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        wasm_predict::memory::exercise(&mut predictor).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        drop((predictor, model, manifest));
        Ok(())
    });
    loaded?;
    peak.ok_or_else(|| {
        anyhow!(
            "the heap is not counted in this process: measuring memory needs the counting allocator that \
             the wasm-predict binary installs"
        )
    })
}

/// A bundle's memory, measured, against its requirement.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryCheck {
    /// The peak heap of load, verify and a batch, in bytes.
    pub measured_bytes: u64,
    /// The manifest's `memory.maximum_bytes`, when it states one.
    pub maximum_bytes: Option<u64>,
    /// Within the requirement, or none stated.
    pub passed: bool,
}

impl MemoryCheck {
    /// Measures the bundle at `dir` against `manifest`'s requirement.
    pub fn of(dir: &Path, manifest: &Manifest) -> Result<MemoryCheck> {
        let measured_bytes = measure(dir)?;
        let maximum_bytes = manifest.memory.as_ref().map(|m| m.maximum_bytes);
        Ok(MemoryCheck {
            measured_bytes,
            maximum_bytes,
            passed: maximum_bytes.is_none_or(|max| measured_bytes <= max),
        })
    }

    /// The verdict in a sentence, naming the bundle.
    pub fn describe(&self, bundle: &str) -> String {
        let measured = self.measured_bytes;
        match self.maximum_bytes {
            Some(max) if measured > max => format!(
                "{bundle} takes {measured} bytes of heap at its peak (load, verify and a batch of \
                 {MEMORY_BATCH_ROWS} rows), over the {max} bytes its manifest states (memory.maximum_bytes)"
            ),
            Some(max) => format!("{measured} bytes at the peak of load, verify and a {MEMORY_BATCH_ROWS}-row batch, maximum {max} -> ok"),
            None => format!(
                "{measured} bytes at the peak of load, verify and a {MEMORY_BATCH_ROWS}-row batch (the manifest states no maximum)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_maximum_is_half_again_in_whole_pages() {
        assert_eq!(maximum_for(0), PAGE);
        assert_eq!(maximum_for(1), PAGE);
        assert_eq!(maximum_for(40_000), PAGE);
        assert_eq!(maximum_for(43_690), PAGE);
        assert_eq!(maximum_for(43_692), 2 * PAGE);
        assert_eq!(maximum_for(1_000_000), 23 * PAGE);
        assert_eq!(maximum_for(u64::MAX), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn a_process_without_the_counting_allocator_says_so() {
        let error = measure(Path::new("../../models/digits-mlp-int8/1.0.0")).unwrap_err();
        assert!(error.to_string().contains("not counted"), "{error}");
    }
}

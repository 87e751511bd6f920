//! What a bundle's memory requirement (`memory` in its manifest) covers beyond the load itself:
//! the checks the browser shell runs once a bundle is loaded, then one batch. The CLI measures
//! the heap of the same calls natively (`bundle`, `verify`), the shell in wasm.

use crate::error::Result;
use crate::manifest::{Manifest, MEMORY_BATCH_ROWS};
use crate::predictor::Predictor;
use crate::verify::{verify, VerificationReport};

/// The batch a memory requirement includes: the holdout's rows, cycled to [`MEMORY_BATCH_ROWS`]
/// rows, one after the other (a checked manifest's holdout has at least one row).
pub fn requirement_batch(manifest: &Manifest) -> Vec<f32> {
    let rows = &manifest.performance.holdout.inputs;
    let mut batch = Vec::with_capacity(MEMORY_BATCH_ROWS * manifest.feature_count());
    for row in rows.iter().cycle().take(MEMORY_BATCH_ROWS) {
        batch.extend_from_slice(row);
    }
    batch
}

/// Runs what follows a load in the browser shell, and what a memory requirement covers besides
/// the load: [`verify()`] (the fixtures, and the holdout as one batch), then one batch of
/// [`MEMORY_BATCH_ROWS`] holdout rows. Returns verify's report, passed or not.
pub fn exercise(predictor: &mut Predictor) -> Result<VerificationReport> {
    let report = verify(predictor)?;
    let batch = requirement_batch(predictor.manifest());
    let rows = batch.len() / predictor.manifest().feature_count().max(1);
    predictor.predict_batch(&batch, rows)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_batch_cycles_the_holdout_to_256_rows_and_runs_after_verify() {
        let mut predictor = crate::default_bundle::load().unwrap();
        let mut manifest = predictor.manifest().clone();
        manifest.performance.holdout.inputs.truncate(100);
        let batch = requirement_batch(&manifest);
        let width = manifest.feature_count();
        assert_eq!(batch.len(), MEMORY_BATCH_ROWS * width);
        let holdout = &manifest.performance.holdout.inputs;
        for r in [0, 99, 100, 255] {
            let row = &batch[r * width..(r + 1) * width];
            assert_eq!(row, holdout[r % 100].as_slice(), "row {r}");
        }
        assert!(exercise(&mut predictor).unwrap().passed);
    }
}

//! The now-test: the live model's recent labelled outcomes against the minimum performance its
//! manifest states. Below the minimum the CLI exits non-zero and the server raises an alert.

use serde::Serialize;
use wasm_predict_manifest::Manifest;
use wasm_predict_manifest::Metric;

use super::stats::{self, Proportion};
use super::threshold::{at_threshold, AtThreshold, Positive};
use crate::rollup::{ArmRow, ConfusionRow, Counts};

/// Fewer labelled outcomes than this give no verdict.
pub const DEFAULT_MIN_OUTCOMES: u64 = 30;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// At or above the minimum.
    Pass,
    /// Below the minimum.
    Fail,
    /// Too few outcomes to say.
    NotEnoughData,
}

/// The now-test of one model.
#[derive(Debug, Clone, Serialize)]
pub struct NowTest {
    /// `name@version`.
    pub model: String,
    /// The manifest's metric.
    pub metric: Metric,
    /// The manifest's minimum.
    pub minimum: f64,
    /// What it reached at bundling.
    pub at_bundling: Option<f64>,
    /// Labelled outcomes joined to its shown predictions.
    pub outcomes: u64,
    /// The metric on them.
    pub achieved: Option<f64>,
    /// For accuracy: the 95% interval.
    pub interval: Option<Proportion>,
    /// The verdict.
    pub verdict: Verdict,
    /// A binary classifier's precision and recall at its decision threshold.
    pub at_threshold: Option<AtThreshold>,
}

/// Tests the model on its outcomes in the window: the rows of
/// [`crate::store::EventStore::arm_rows`] (and, for precision and recall, of
/// [`crate::store::EventStore::confusion_rows`]) whose model is `manifest`'s, any arm.
pub fn now_test(manifest: &Manifest, rows: &[ArmRow], confusion: &[ConfusionRow], min_outcomes: u64) -> NowTest {
    let model = format!("{}@{}", manifest.name, manifest.version);
    let positive = Positive::of(manifest);
    let at_threshold = at_threshold(confusion.iter().filter(|r| r.key.model == model), &|_| positive.clone());
    let mut counts = Counts::default();
    for row in rows.iter().filter(|r| r.key.model == model) {
        counts.add(&row.counts);
    }
    let (outcomes, achieved, interval) = match manifest.performance.metric {
        Metric::Accuracy => {
            let interval = stats::wilson(counts.correct, counts.labelled);
            (counts.labelled, interval.map(|p| p.value), interval)
        }
        Metric::R2 => (counts.numeric_n, r2(&counts), None),
    };
    let verdict = match achieved {
        _ if outcomes < min_outcomes => Verdict::NotEnoughData,
        Some(value) if value >= manifest.performance.minimum => Verdict::Pass,
        Some(_) => Verdict::Fail,
        None => Verdict::NotEnoughData,
    };
    NowTest {
        model,
        metric: manifest.performance.metric,
        minimum: manifest.performance.minimum,
        at_bundling: manifest.performance.achieved,
        outcomes,
        achieved,
        interval,
        verdict,
        at_threshold,
    }
}

/// R² = 1 − Σ(t − p)² / Σ(t − t̄)², from sums.
fn r2(counts: &Counts) -> Option<f64> {
    if counts.numeric_n == 0 {
        return None;
    }
    let n = counts.numeric_n as f64;
    let total = counts.truth_sq - counts.truth_sum * counts.truth_sum / n;
    // Below this share of Σt², the truths are one value up to rounding: R² is undefined.
    if total <= 1e-12 * counts.truth_sq.max(f64::MIN_POSITIVE) {
        return None;
    }
    Some(1.0 - counts.sq_sum / total)
}

//! The drift report: the live distribution of each input feature and of the predictions, from a
//! recent window of logged events, against the reference statistics in the model's manifest:
//! PSI and a chi-square test of homogeneity over the manifest's own bins.

use serde::Serialize;
use wasm_predict_manifest::Manifest;

use super::stats::{self, ChiSquare};
use crate::events::{Event, EventKind};

/// PSI above this is flagged by default (the usual "significant shift" rule of thumb).
pub const DEFAULT_PSI_THRESHOLD: f64 = 0.2;

/// One distribution compared with its reference.
#[derive(Debug, Clone, Serialize)]
pub struct DistributionDrift {
    /// Feature name, or `prediction.label` / `prediction.confidence` / `prediction.value`.
    pub name: String,
    /// Live observations.
    pub n: u64,
    /// Population stability index.
    pub psi: Option<f64>,
    /// Chi-square test of homogeneity of live and reference counts.
    pub test: Option<ChiSquare>,
    /// PSI over the threshold.
    pub drifted: bool,
}

/// The drift report of one model.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// `name@version`.
    pub model: String,
    /// The PSI threshold used.
    pub threshold: f64,
    /// Predictions in the window.
    pub predictions: u64,
    /// Of which logged their inputs (consent).
    pub with_inputs: u64,
    /// Per input feature (empty when no inputs were logged).
    pub features: Vec<DistributionDrift>,
    /// The predictions' distribution.
    pub predictions_drift: Vec<DistributionDrift>,
    /// Names of what drifted.
    pub drifted: Vec<String>,
}

fn compare(name: String, reference: &[u64], live: Vec<u64>, threshold: f64) -> DistributionDrift {
    let n = live.iter().sum();
    let psi = stats::psi(reference, &live);
    DistributionDrift {
        name,
        n,
        test: stats::chi_square_homogeneity(reference, &live),
        drifted: psi.is_some_and(|p| p > threshold),
        psi,
    }
}

fn binned(edges: &[f64], values: impl Iterator<Item = f64>) -> Vec<u64> {
    let mut counts = vec![0; edges.len() + 1];
    for value in values {
        counts[stats::bin_of(edges, value)] += 1;
    }
    counts
}

/// Compares the model's shown predictions among `events` (the window) with its manifest.
pub fn drift_report(manifest: &Manifest, events: &[Event], threshold: f64) -> DriftReport {
    let model = format!("{}@{}", manifest.name, manifest.version);
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.kind == EventKind::Prediction
                && e.fields.error.is_none()
                && e.fields
                    .model
                    .as_ref()
                    .is_some_and(|m| m.name == manifest.name && m.version == manifest.version)
        })
        .collect();
    let width = manifest.feature_count();
    let rows: Vec<&Vec<f64>> = mine
        .iter()
        .filter_map(|e| e.fields.inputs.as_ref())
        .filter(|row| row.len() == width)
        .collect();
    let reference = &manifest.reference;
    let features = if rows.is_empty() {
        Vec::new()
    } else {
        reference
            .features
            .iter()
            .enumerate()
            .map(|(i, histogram)| {
                let live = binned(&histogram.edges, rows.iter().map(|row| row[i]));
                compare(histogram.name.clone(), &histogram.counts, live, threshold)
            })
            .collect()
    };
    let mut predictions_drift = Vec::new();
    if let Some(labels) = &reference.predictions.labels {
        let names: Vec<&String> = labels.keys().collect();
        let mut live = vec![0; names.len()];
        for event in &mine {
            if let Some(i) = event
                .label()
                .and_then(|label| names.iter().position(|n| n.as_str() == label))
            {
                live[i] += 1;
            }
        }
        let expected: Vec<u64> = labels.values().copied().collect();
        predictions_drift.push(compare("prediction.label".into(), &expected, live, threshold));
    }
    if let Some(histogram) = &reference.predictions.confidence {
        let live = binned(
            &histogram.edges,
            mine.iter().filter_map(|e| e.fields.output.as_ref()?.confidence),
        );
        predictions_drift.push(compare(
            "prediction.confidence".into(),
            &histogram.counts,
            live,
            threshold,
        ));
    }
    if let Some(histogram) = &reference.predictions.value {
        let live = binned(
            &histogram.edges,
            mine.iter().filter_map(|e| e.fields.output.as_ref()?.value),
        );
        predictions_drift.push(compare("prediction.value".into(), &histogram.counts, live, threshold));
    }
    let drifted = features
        .iter()
        .chain(&predictions_drift)
        .filter(|d| d.drifted)
        .map(|d| d.name.clone())
        .collect();
    DriftReport {
        model,
        threshold,
        predictions: mine.len() as u64,
        with_inputs: rows.len() as u64,
        features,
        predictions_drift,
        drifted,
    }
}

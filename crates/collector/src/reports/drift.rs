//! The drift report: the live distribution of each input feature and of the predictions, from a
//! recent window of logged events, against the reference statistics in the model's manifest:
//! PSI and a chi-square test of homogeneity over the manifest's own bins.

use serde::Serialize;
use wasm_predict_manifest::Manifest;

use super::stats::{self, ChiSquare};
use crate::rollup::drift as series;
use crate::rollup::DriftRows;

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
    /// Features: the share of live values that were missing (`null` in the events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_share: Option<f64>,
    /// Features: the share that was missing in the manifest's reference data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_missing_share: Option<f64>,
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
        missing_share: None,
        reference_missing_share: None,
    }
}

/// `part` of `whole`, or `None` of nothing.
fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Compares the model's predictions in the window, as drift counts
/// ([`crate::store::EventStore::drift_rows`]), with its manifest.
pub fn drift_report(manifest: &Manifest, rows: &DriftRows, threshold: f64) -> DriftReport {
    let model = format!("{}@{}", manifest.name, manifest.version);
    let count = |series: i32, bin: i32| {
        rows.iter()
            .filter(|(s, b, _)| *s == series && *b == bin)
            .map(|(_, _, n)| n)
            .sum::<u64>()
    };
    let binned = |series: i32, bins: usize| -> Vec<u64> { (0..bins).map(|b| count(series, b as i32)).collect() };
    let predictions = count(series::PREDICTIONS, 0);
    let with_inputs = count(series::WITH_INPUTS, 0);
    let reference = &manifest.reference;
    let features = if with_inputs == 0 {
        Vec::new()
    } else {
        reference
            .features
            .iter()
            .enumerate()
            .map(|(i, histogram)| {
                let live = binned(i as i32, histogram.edges.len() + 1);
                let missing = count(i as i32, series::MISSING);
                let reference = histogram.counts.iter().sum::<u64>() + histogram.missing;
                DistributionDrift {
                    missing_share: share(missing, with_inputs),
                    reference_missing_share: share(histogram.missing, reference),
                    ..compare(histogram.name.clone(), &histogram.counts, live, threshold)
                }
            })
            .collect()
    };
    let mut predictions_drift = Vec::new();
    if let Some(labels) = &reference.predictions.labels {
        let expected: Vec<u64> = labels.values().copied().collect();
        let live = binned(series::LABEL, expected.len());
        predictions_drift.push(compare("prediction.label".into(), &expected, live, threshold));
    }
    if let Some(histogram) = &reference.predictions.confidence {
        let live = binned(series::CONFIDENCE, histogram.edges.len() + 1);
        predictions_drift.push(compare(
            "prediction.confidence".into(),
            &histogram.counts,
            live,
            threshold,
        ));
    }
    if let Some(histogram) = &reference.predictions.value {
        let live = binned(series::VALUE, histogram.edges.len() + 1);
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
        predictions,
        with_inputs,
        features,
        predictions_drift,
        drifted,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::{json, Value};
    use wasm_predict_manifest::Manifest;

    use super::{drift_report, DriftReport};
    use crate::events::validate_batch;
    use crate::rollup::{delta_of, drift::observations};

    fn report_of(manifest: &Manifest, events: &[crate::events::Event]) -> DriftReport {
        let delta = delta_of(events, |e| observations(manifest, e));
        let model = format!("{}@{}", manifest.name, manifest.version);
        drift_report(manifest, &delta.drift_rows("e", &model, None), 0.2)
    }

    /// A prediction event of `manifest`'s model, its id ending in `suffix` (two digits).
    fn prediction(manifest: &Manifest, suffix: &str, label: &str, inputs: Value) -> Value {
        json!({
            "id": format!("0190f0f0-0000-7000-8000-0000000000{suffix}"), "kind": "prediction",
            "time": "2026-12-01T00:00:00Z", "clientId": "c", "experiment": "e", "inExperiment": true,
            "arm": "a", "assignedArm": "a",
            "model": {"name": manifest.name, "version": manifest.version, "sha256": manifest.sha256},
            "shadow": false, "source": "cache", "latencyMs": 1.0, "computeMs": 0.5,
            "output": {"label": label, "confidence": 0.9, "topK": [{"label": label, "probability": 0.9}]},
            "error": null, "review": false, "inputs": inputs
        })
    }

    #[test]
    fn missing_inputs_are_counted_apart_and_shown_against_the_reference() {
        let mut manifest: Value =
            serde_json::from_str(include_str!("../../../../models/digits-mlp-int8/1.0.0/manifest.json")).unwrap();
        manifest["reference"]["features"][0]["missing"] = json!(10);
        let manifest = Manifest::from_json(&serde_json::to_vec(&manifest).unwrap()).unwrap();
        let reference: u64 = manifest.reference.features[0].counts.iter().sum::<u64>() + 10;
        let events: Vec<Value> = (0..4)
            .map(|i| {
                let mut inputs = vec![json!(1.0); 64];
                if i < 3 {
                    inputs[0] = Value::Null;
                }
                prediction(&manifest, &format!("0{i}"), "3", json!(inputs))
            })
            .collect();
        let batch = validate_batch(&serde_json::to_vec(&json!({"schema": 1, "events": events})).unwrap()).unwrap();
        assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
        let report = report_of(&manifest, &batch.events);
        let first = &report.features[0];
        assert_eq!(first.missing_share, Some(0.75));
        assert_eq!(first.reference_missing_share, Some(10.0 / reference as f64));
        assert_eq!(first.n, 1, "only present values are binned");
        assert_eq!(report.features[1].missing_share, Some(0.0));
    }

    #[test]
    fn records_are_read_by_name_and_categories_fall_in_their_bins() {
        let manifest = Manifest::from_json(include_bytes!("../../../manifest/tests/records-manifest.json")).unwrap();
        let record = |i: usize, city: &str| {
            let inputs = json!({"age": 30, "visits": 2, "city": city, "plan": "pro", "extra": "ignored"});
            prediction(&manifest, &format!("1{i}"), "yes", inputs)
        };
        let events = vec![record(0, "Lyon"), record(1, "Lyon"), record(2, "Atlantis")];
        let batch = validate_batch(&serde_json::to_vec(&json!({"schema": 1, "events": events})).unwrap()).unwrap();
        assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
        let report = report_of(&manifest, &batch.events);
        assert_eq!(report.with_inputs, 3);
        let city = report.features.iter().find(|f| f.name == "city").unwrap();
        assert_eq!(city.n, 3);
        // A record that is not an object of numbers, strings and nulls is refused at ingest.
        let mut bad = record(3, "Lyon");
        bad["inputs"]["city"] = json!(["Lyon"]);
        let batch = validate_batch(&serde_json::to_vec(&json!({"schema": 1, "events": [bad]})).unwrap()).unwrap();
        assert_eq!(batch.rejected.len(), 1);
    }
}

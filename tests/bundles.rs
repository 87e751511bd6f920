//! Every committed bundle loads, passes verify, and matches onnxruntime on its whole holdout.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use wasm_predict::{verify, Predictor};

fn bundle_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![];
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for model in std::fs::read_dir(&models).unwrap().flatten() {
        if model.path().is_dir() {
            for version in std::fs::read_dir(model.path()).unwrap().flatten() {
                if version.path().join("manifest.json").exists() {
                    dirs.push(version.path());
                }
            }
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn every_bundle_verifies() {
    let dirs = bundle_dirs();
    assert!(dirs.len() >= 5, "{dirs:?}");
    for dir in dirs {
        let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
        let model = std::fs::read(dir.join("model.onnx")).unwrap();
        let mut predictor = Predictor::load(&manifest, &model).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        let report = verify(&mut predictor).unwrap();
        println!(
            "{}: {:?} {} (min {})",
            report.model, report.performance.metric, report.performance.achieved, report.performance.minimum
        );
        assert!(report.passed, "{report:#?}");
    }
}

#[path = "support/golden.rs"]
mod golden;
use golden::Golden;

#[test]
fn every_bundle_matches_onnxruntime_on_its_whole_holdout() {
    for dir in bundle_dirs() {
        let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
        let model = std::fs::read(dir.join("model.onnx")).unwrap();
        let mut predictor = Predictor::load(&manifest, &model).unwrap();
        let m = predictor.manifest().clone();
        let golden: Golden = serde_json::from_slice(
            &std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{}-{}.json", m.name, m.version)),
            )
            .unwrap(),
        )
        .unwrap();
        let rows = &m.performance.holdout.inputs;
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let batch = predictor.predict_batch(&flat, rows.len()).unwrap();
        let mut worst = 0f32;
        let mut same_label = 0;
        for (r, row) in rows.iter().enumerate() {
            let single = predictor.predict(row).unwrap();
            let (got, want): (Vec<f32>, Vec<f32>) = match single {
                wasm_predict::Prediction::Classification {
                    probabilities, label, ..
                } => {
                    same_label += usize::from(label == golden.labels[r]);
                    (probabilities, golden.probabilities[r].clone())
                }
                wasm_predict::Prediction::Regression { value } => {
                    same_label += 1;
                    (vec![value], vec![golden.values[r]])
                }
            };
            let width = got.len();
            let batch_diff = wasm_predict::fixtures::max_abs_diff(&batch.outputs[r * width..(r + 1) * width], &got);
            let scale = got.iter().fold(1f32, |m, v| m.max(v.abs()));
            assert!(
                batch_diff <= 1e-6 * scale,
                "{}: batch and single row differ by {batch_diff}",
                m.id()
            );
            worst = worst.max(wasm_predict::fixtures::max_abs_diff(&got, &want));
        }
        let agreement = same_label as f64 / rows.len() as f64;
        println!(
            "{}: max |tract - onnxruntime| = {worst:e}, same label on {:.2}% of {} rows",
            m.id(),
            agreement * 100.0,
            rows.len()
        );
        assert!(
            worst <= m.fixtures.tolerance,
            "{}: {worst} > {}",
            m.id(),
            m.fixtures.tolerance
        );
        assert!(agreement >= 0.995, "{}: {agreement}", m.id());
    }
}

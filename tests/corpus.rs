//! The differential corpus (tests/corpus, made by make_corpus.py): models as scikit-learn users
//! and onnxruntime's quantizer make them, run by our predictor against onnxruntime's outputs.
//!
//! Every case either matches onnxruntime (same label on >= 99.5% of rows, outputs within the
//! case's tolerance) or is refused at load with a node-by-node report; never a panic, never a
//! wrong answer. `SUPPORTED` is the ratchet: a case in it must match, and it may only grow.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use wasm_predict::{Manifest, Prediction, Predictor};

/// Cases that load and match onnxruntime today.
const SUPPORTED: &[&str] = &[
    "mlp-float",
    "mlp-qdq-s8",
    "mlp-qdq-u8",
    "mlp-dynamic",
    "cnn-float",
    "cnn-qdq-s8",
    "cnn-qdq-u8",
    "cnn-dynamic",
    "mlp-qoperator",
    "cnn-qoperator",
    "ops-float",
    "ops-qdq-s8",
    "ops-qdq-u8",
    "ops-qoperator",
    "ops-dynamic",
    "skl-standard-logreg",
    "skl-minmax-linreg",
    "skl-normalizer-logreg",
    "skl-ridge",
    "skl-tree-clf",
    "skl-forest-clf",
    "skl-mlp-clf",
    "skl-mlp-clf-zipmap",
    "skl-standard-logreg-zipmap",
    "skl-binarizer-logreg",
    "skl-imputer-ridge",
];

#[derive(serde::Deserialize)]
struct Case {
    task: String,
    input: String,
    output: String,
    classes: Option<Vec<String>>,
    features: serde_json::Value,
    tolerance: f32,
    inputs: Vec<Vec<Option<f32>>>,
    expected: Vec<Vec<f32>>,
}

/// A manifest that describes the case's graph; fixtures and holdout are left to this test.
fn manifest_for(case: &Case) -> Manifest {
    let row: Vec<u64> = match &case.features {
        serde_json::Value::Number(n) => vec![n.as_u64().unwrap()],
        other => serde_json::from_value(other.clone()).unwrap(),
    };
    let count: u64 = row.iter().product();
    let mut shape = vec![json!("N")];
    shape.extend(row.iter().map(|d| json!(d)));
    let classification = case.task == "classification";
    let outputs = if classification {
        json!({"probabilities": case.output, "classes": case.classes})
    } else {
        json!({"score": case.output})
    };
    serde_json::from_value(json!({
        "format": 1, "name": "corpus", "version": "0.0.0", "sha256": "0".repeat(64), "task": case.task,
        "inputs": [{"name": case.input, "dtype": "float32", "shape": shape,
                    "features": (0..count).map(|i| format!("f{i}")).collect::<Vec<_>>(), "missing": "nan"}],
        "outputs": outputs,
        "performance": {"metric": if classification { "accuracy" } else { "r2" }, "minimum": 0.0,
                        "holdout": {"inputs": [], "targets": []}},
        "fixtures": {"tolerance": case.tolerance, "cases": []},
        "reference": {"features": [], "predictions": {}},
        "provenance": {"training_data": {"source": "corpus", "rows": 0, "window": null}, "parent_version": null, "created": "2026-11-23T00:00:00Z"}
    }))
    .unwrap()
}

enum Outcome {
    Match { worst: f32, agreement: f64 },
    Mismatch(String),
    Refused(String),
}

fn run_case(name: &str) -> Outcome {
    let dir = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let case: Case = serde_json::from_slice(&std::fs::read(format!("{dir}/case.json")).unwrap()).unwrap();
    let model = std::fs::read(format!("{dir}/model.onnx")).unwrap();
    let mut predictor = match Predictor::from_model(manifest_for(&case), &model) {
        Ok(p) => p,
        Err(e) => return Outcome::Refused(format!("{} {e}", e.code())),
    };
    let flat: Vec<f32> = case.inputs.iter().flatten().map(|v| v.unwrap_or(f32::NAN)).collect();
    let batch = match predictor.predict_batch(&flat, case.inputs.len()) {
        Ok(b) => b,
        Err(e) => return Outcome::Refused(format!("{} {e}", e.code())),
    };
    let width = batch.outputs.len() / case.inputs.len();
    let mut worst = 0f32;
    let mut same = 0usize;
    for (r, want) in case.expected.iter().enumerate() {
        let got = &batch.outputs[r * width..(r + 1) * width];
        if got.len() != want.len() {
            return Outcome::Mismatch(format!(
                "{} outputs per row, onnxruntime gives {}",
                got.len(),
                want.len()
            ));
        }
        worst = worst.max(wasm_predict::verify::max_abs_diff(got, want));
        same += match predictor.interpret(&batch.outputs, r).unwrap() {
            Prediction::Classification { label_index, .. } => {
                let want_index = want
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, v)| if *v > want[b] { i } else { b });
                usize::from(label_index == want_index)
            }
            Prediction::Regression { .. } => 1,
        };
    }
    let agreement = same as f64 / case.expected.len() as f64;
    let scale = case.expected.iter().flatten().fold(1f32, |m, v| m.max(v.abs()));
    let tolerance = if case.task == "regression" {
        case.tolerance * scale
    } else {
        case.tolerance
    };
    if worst <= tolerance && agreement >= 0.995 {
        Outcome::Match { worst, agreement }
    } else {
        Outcome::Mismatch(format!(
            "max |diff| {worst:e} (tolerance {tolerance:e}), same label on {:.1}%",
            agreement * 100.0
        ))
    }
}

#[test]
fn the_corpus_matches_onnxruntime_or_is_refused_clearly() {
    let mut names: Vec<String> = std::fs::read_dir(format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("case.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 31, "{names:?}");
    let mut matched = 0;
    let mut failures = vec![];
    for name in &names {
        let outcome = run_case(name);
        match &outcome {
            Outcome::Match { worst, agreement } => {
                matched += 1;
                println!(
                    "MATCH    {name:32} max |diff| {worst:.1e}, same label {:.1}%",
                    agreement * 100.0
                );
            }
            Outcome::Mismatch(why) => println!("MISMATCH {name:32} {why}"),
            Outcome::Refused(why) => println!("REFUSED  {name:32} {}", why.chars().take(300).collect::<String>()),
        }
        let supported = SUPPORTED.contains(&name.as_str());
        match outcome {
            Outcome::Match { .. } => {}
            Outcome::Mismatch(why) => failures.push(format!("{name}: a wrong answer is never acceptable: {why}")),
            Outcome::Refused(why) if supported => {
                failures.push(format!("{name} is in SUPPORTED but was refused: {why}"))
            }
            Outcome::Refused(why) => assert!(
                why.starts_with("MODEL_UNSUPPORTED") || why.starts_with("GRAPH_MISMATCH"),
                "{name}: {why}"
            ),
        }
    }
    println!("corpus: {matched} of {} cases match onnxruntime", names.len());
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(matched >= SUPPORTED.len());
}

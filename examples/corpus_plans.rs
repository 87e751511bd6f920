//! Writes every supported corpus case (tests/corpus) as a bundle that the package's default entry
//! loads: `OUT/<case>/manifest.json` (the case's interface, its first row as fixture and holdout,
//! as the plan predicts it natively, and the plan's hash) and `model.plan`, compiled as `bundle`
//! compiles it, each loaded back natively first. Prints, as JSON, the cases written and those
//! without a plan (with why). `tests/browser/corpus-plans.test.mjs` runs them in chromium.
//! Usage: cargo run --example corpus_plans -- OUT_DIR [CASE...]   (no case: every case)
// The corpus harness it shares with the tests unwraps what the committed corpus guarantees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use wasm_predict::hash::sha256_hex;
use wasm_predict::manifest::Task;
use wasm_predict::plan_file::{decode, encode, PLAN_FORMAT};
use wasm_predict::{Prediction, Predictor};

// Only the cases and their manifests are used here, not the comparison.
#[allow(dead_code)]
#[path = "../tests/support/corpus.rs"]
mod corpus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: corpus_plans OUT_DIR [CASE...]")?;
    let only: Vec<String> = std::env::args().skip(2).collect();
    let mut written = Vec::new();
    let mut without_plan = BTreeMap::new();
    for (name, case_json, model) in corpus::CORPUS {
        if !only.is_empty() && !only.iter().any(|case| case == name) {
            continue;
        }
        let case: corpus::Case = serde_json::from_slice(case_json)?;
        let manifest = corpus::manifest_for(&case, model);
        let compiled = match wasm_predict::predictor::compile_model(&manifest, model) {
            Ok(compiled) => compiled,
            Err(e) => {
                without_plan.insert(*name, e.to_string());
                continue;
            }
        };
        let plan = encode(&compiled)?;
        // The first row, as the model takes it (a record encoded), is the fixture and the holdout.
        let row: Vec<f32> = match &case.records {
            Some(records) => manifest.encode_record(&records[0])?,
            None => case.inputs[0].iter().map(|v| v.unwrap_or(f32::NAN)).collect(),
        };
        let input: Vec<Option<f32>> = row.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
        // The fixture is the row alone as the plan predicts it natively: under dynamic
        // quantization onnxruntime's row 0 was quantized with the whole batch.
        let mut native = Predictor::from_compiled(manifest.clone(), decode(&plan)?)?;
        let (fixture, target, tolerance) = match native.predict(&row)? {
            Prediction::Classification {
                probabilities, label, ..
            } => (
                json!({"probabilities": probabilities, "label": label}),
                json!(label),
                case.tolerance,
            ),
            Prediction::Regression { value } => (
                json!({"value": value}),
                json!(value),
                case.tolerance * value.abs().max(1.0),
            ),
        };
        let mut bundle = serde_json::to_value(&manifest)?;
        bundle["plan"] = json!({"format": PLAN_FORMAT, "sha256": sha256_hex(&plan)});
        bundle["performance"]["minimum"] = json!(if manifest.task == Task::Classification {
            0.0
        } else {
            -1e9
        });
        bundle["performance"]["holdout"] = json!({"inputs": [input], "targets": [target]});
        bundle["fixtures"] = json!({"tolerance": tolerance, "cases": [{"input": input, "expected": fixture}]});
        bundle["reference"] = json!({
            "features": manifest.feature_names().iter().map(|n| json!({"name": n, "edges": [], "counts": [0]})).collect::<Vec<_>>(),
            "predictions": {},
        });
        let bytes = serde_json::to_vec_pretty(&bundle)?;
        Predictor::load_compiled(&bytes, &plan)
            .map_err(|e| format!("{name}: the bundle written does not load: {e}"))?;
        let dir = Path::new(&out).join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("manifest.json"), bytes)?;
        std::fs::write(dir.join("model.plan"), plan)?;
        std::fs::write(dir.join("case.json"), case_json)?;
        written.push(*name);
    }
    println!(
        "{}",
        serde_json::to_string(&json!({"written": written, "withoutPlan": without_plan}))?
    );
    Ok(())
}

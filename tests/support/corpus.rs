//! The corpus comparison shared by the native test (tests/corpus.rs) and the browser test
//! (tests/web.rs): a case's model against onnxruntime's outputs for its inputs.

use serde_json::json;
use wasm_predict::{Manifest, Prediction, Predictor};

/// Declares the supported cases once: their names, and their files compiled in (the browser test
/// has no file system).
macro_rules! supported {
    ($($name:literal),* $(,)?) => {
        /// Cases that load and match onnxruntime today: the ratchet, it may only grow.
        pub const SUPPORTED: &[&str] = &[$($name),*];

        /// Name, case.json and model.onnx of every supported case.
        pub const CORPUS: &[(&str, &[u8], &[u8])] = &[$((
            $name,
            include_bytes!(concat!("../corpus/", $name, "/case.json")).as_slice(),
            include_bytes!(concat!("../corpus/", $name, "/model.onnx")).as_slice(),
        )),*];
    };
}

supported!(
    "bench-forest-clf",
    "bench-gboost-reg",
    "bench-lenet",
    "bench-mlp",
    "catboost-clf-binary",
    "catboost-clf-multi",
    "catboost-reg",
    "cnn-dynamic",
    "cnn-float",
    "cnn-qdq-s8",
    "cnn-qdq-u8",
    "cnn-qoperator",
    "hgb-clf-missing",
    "lgbm-clf-10class",
    "lgbm-clf-binary",
    "lgbm-clf-missing",
    "lgbm-reg",
    "mlp-dynamic",
    "mlp-float",
    "mlp-qdq-s8",
    "mlp-qdq-u8",
    "mlp-qoperator",
    "records-imputer-gboost",
    "records-labelencoder",
    "records-multicolumn-ridge",
    "records-onehot-error",
    "records-onehot-logreg",
    "records-ordinal-forest",
    "ops-dynamic",
    "ops-float",
    "ops-qdq-s8",
    "ops-qdq-u8",
    "ops-qoperator",
    "skl-binarizer-logreg",
    "skl-forest-clf",
    "skl-forest-reg",
    "skl-gboost-clf",
    "skl-gboost-reg",
    "skl-imputer-ridge",
    "skl-minmax-linreg",
    "skl-mlp-clf",
    "skl-mlp-clf-zipmap",
    "skl-normalizer-logreg",
    "skl-onehot-logreg",
    "skl-ridge",
    "skl-standard-logreg",
    "skl-standard-logreg-zipmap",
    "skl-tree-clf",
    "skl-tree-reg",
    "keras-mlp",
    "torch-cnn-batch1",
    "torch-cnn-batch1-dynamic",
    "torch-cnn-batch1-qdq-s8",
    "torch-cnn-batch1-qdq-u8",
    "torch-cnn-batch1-qoperator",
    "torch-cnn-batch4",
    "torch-mlp-bn",
    "tree-v3-average-reg",
    "tree-v3-binary-negative-clf",
    "tree-v3-binary-negative-id0-clf",
    "tree-v3-binary-negative-none-clf",
    "tree-v3-binary-negative-none-id0-clf",
    "tree-v3-binary-one-id-clf",
    "tree-v3-binary-one-id0-clf",
    "tree-v3-binary-one-id0-logistic-clf",
    "tree-v3-double-thresholds",
    "tree-v3-duplicate-votes-reg",
    "tree-v3-max-reg",
    "tree-v3-min-reg",
    "tree-v3-modes-reg",
    "tree-v3-multi-clf",
    "tree-v3-probit-reg",
    "tree-v3-softmax-zero-clf",
    "tree-v3-strings-clf",
    "tree-v5-member-bigset",
    "tree-v5-modes",
    "xgb-clf-binary",
    "xgb-clf-missing",
    "xgb-clf-multi",
    "xgb-reg",
);

#[derive(serde::Deserialize)]
pub struct Case {
    pub task: String,
    /// The one float input (cases of tables of records have `graph_inputs` instead).
    #[serde(default)]
    pub input: String,
    pub output: String,
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub features: serde_json::Value,
    pub tolerance: f32,
    #[serde(default)]
    pub inputs: Vec<Vec<Option<f32>>>,
    pub expected: Vec<Vec<f32>>,
    /// Records cases (make_records_corpus.py): the graph's named inputs and their features.
    pub graph_inputs: Option<Vec<GraphInput>>,
    /// Records cases: one record per row, keyed by feature name.
    pub records: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

/// One named input of a records case.
#[derive(serde::Deserialize)]
pub struct GraphInput {
    pub name: String,
    pub dtype: String,
    pub features: Vec<String>,
}

/// A manifest that describes the case's graph (a string input's categories read from `model`
/// as `bundle` reads them); fixtures and holdout are left to this test.
pub fn manifest_for(case: &Case, model: &[u8]) -> Manifest {
    if let Some(inputs) = &case.graph_inputs {
        let proto = wasm_predict::onnx::read_proto(model).unwrap();
        let layouts = wasm_predict::records::layout_from_graph(&proto).unwrap();
        let specs: Vec<serde_json::Value> = inputs
            .iter()
            .map(|i| {
                let mut spec = json!({"name": i.name, "dtype": i.dtype, "shape": ["N", i.features.len()],
                                      "features": i.features});
                if i.dtype == "float32" {
                    spec["missing"] = json!("nan");
                }
                if let Some(layout) = layouts.iter().find(|l| l.name == i.name && !l.categories.is_empty()) {
                    spec["categories"] = json!(layout.categories);
                }
                spec
            })
            .collect();
        return manifest_with_inputs(case, json!(specs));
    }
    let row: Vec<u64> = match &case.features {
        serde_json::Value::Number(n) => vec![n.as_u64().unwrap()],
        other => serde_json::from_value(other.clone()).unwrap(),
    };
    let count: u64 = row.iter().product();
    let mut shape = vec![json!("N")];
    shape.extend(row.iter().map(|d| json!(d)));
    let inputs = json!([{"name": case.input, "dtype": "float32", "shape": shape,
                         "features": (0..count).map(|i| format!("f{i}")).collect::<Vec<_>>(), "missing": "nan"}]);
    manifest_with_inputs(case, inputs)
}

fn manifest_with_inputs(case: &Case, inputs: serde_json::Value) -> Manifest {
    let classification = case.task == "classification";
    let outputs = if classification {
        json!({"probabilities": case.output, "classes": case.classes})
    } else {
        json!({"score": case.output})
    };
    serde_json::from_value(json!({
        "format": 1, "name": "corpus", "version": "0.0.0", "sha256": "0".repeat(64), "task": case.task,
        "inputs": inputs,
        "outputs": outputs,
        "performance": {"metric": if classification { "accuracy" } else { "r2" }, "minimum": 0.0,
                        "holdout": {"inputs": [], "targets": []}},
        "fixtures": {"tolerance": case.tolerance, "cases": []},
        "reference": {"features": [], "predictions": {}},
        "provenance": {"training_data": {"source": "corpus", "rows": 0, "window": null}, "parent_version": null, "created": "2026-11-23T00:00:00Z"}
    }))
    .unwrap()
}

pub enum Outcome {
    /// `on_tract`: why the case ran on tract's plans rather than our runtime's, if it did.
    Match {
        worst: f32,
        agreement: f64,
        on_tract: Option<String>,
    },
    Mismatch(String),
    Refused(String),
}

/// Runs one case, given its case.json and model.onnx bytes.
pub fn run_case(case_json: &[u8], model: &[u8]) -> Outcome {
    run_with(case_json, model, |manifest| Predictor::from_model(manifest, model))
}

/// Runs one case on the plan file a bundle of it would carry: compiled as `bundle` compiles it,
/// written, read back, and run without the ONNX model.
pub fn run_case_from_plan(case_json: &[u8], model: &[u8]) -> Outcome {
    use wasm_predict::plan_file::{decode, encode};
    run_with(case_json, model, |manifest| {
        let compiled = wasm_predict::predictor::compile_model(&manifest, model)?;
        Predictor::from_compiled(manifest, decode(&encode(&compiled)?)?)
    })
}

fn run_with(
    case_json: &[u8],
    model: &[u8],
    build: impl FnOnce(Manifest) -> Result<Predictor, wasm_predict::PredictError>,
) -> Outcome {
    let case: Case = serde_json::from_slice(case_json).unwrap();
    let mut predictor = match build(manifest_for(&case, model)) {
        Ok(p) => p,
        Err(e) => return Outcome::Refused(format!("{} {e}", e.code())),
    };
    // Records go in by name; the rows they make are what a batch of rows takes too.
    let rows: Vec<Vec<f32>> = match &case.records {
        Some(records) => match records.iter().map(|r| predictor.manifest().encode_record(r)).collect() {
            Ok(rows) => rows,
            Err(e) => return Outcome::Mismatch(format!("a record of the case is refused: {e}")),
        },
        None => case
            .inputs
            .iter()
            .map(|row| row.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
            .collect(),
    };
    let flat: Vec<f32> = rows.concat();
    let batch = match predictor.predict_batch(&flat, rows.len()) {
        Ok(b) => b,
        Err(e) => return Outcome::Refused(format!("{} {e}", e.code())),
    };
    if let Some(records) = &case.records {
        match predictor.predict_records(records) {
            Ok(by_name) if by_name.outputs == batch.outputs => {}
            Ok(_) => return Outcome::Mismatch("records and their rows give different outputs".into()),
            Err(e) => return Outcome::Refused(format!("{} {e}", e.code())),
        }
    }
    let width = batch.outputs.len() / rows.len();
    // One row on its own gives what it gives in the batch (for a graph that fixes its batch size,
    // the row is padded to it); not under dynamic quantization, whose grid is the whole batch's.
    let first = rows[0].clone();
    let dynamic = model.windows(21).any(|w| w == b"DynamicQuantizeLinear");
    match predictor.predict(&first) {
        _ if dynamic => {}
        Ok(Prediction::Classification { probabilities, .. }) => {
            let diff = wasm_predict::fixtures::max_abs_diff(&probabilities, &batch.outputs[..width]);
            if diff > 1e-5 {
                return Outcome::Mismatch(format!("row 0 alone differs from row 0 in the batch by {diff:e}"));
            }
        }
        Ok(Prediction::Regression { value }) => {
            if (value - batch.outputs[0]).abs() > 1e-5 * value.abs().max(1.0) {
                return Outcome::Mismatch(format!("row 0 alone gives {value}, in the batch {}", batch.outputs[0]));
            }
        }
        Err(e) => return Outcome::Refused(format!("{} {e}", e.code())),
    }
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
        worst = worst.max(wasm_predict::fixtures::max_abs_diff(got, want));
        same += match predictor.interpret(&batch.outputs, r).unwrap() {
            Prediction::Classification { label_index, .. } => {
                let want_index = want
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, v)| if *v > want[b] { i } else { b });
                // A near tie within tolerance may flip the label without any output being wrong
                // (onnxruntime itself sums trees in another order when it runs them in parallel).
                let mut sorted = want.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                let tie = sorted.len() > 1 && sorted[0] - sorted[1] <= 2.0 * case.tolerance;
                usize::from(label_index == want_index || tie)
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
        Outcome::Match {
            worst,
            agreement,
            on_tract: (!predictor.runs_compiled()).then(|| {
                predictor
                    .why_not_compiled()
                    .unwrap_or("compiled plans are off on this target")
                    .to_string()
            }),
        }
    } else {
        Outcome::Mismatch(format!(
            "max |diff| {worst:e} (tolerance {tolerance:e}), same label on {:.1}%",
            agreement * 100.0
        ))
    }
}

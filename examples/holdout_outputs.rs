//! Prints, as JSON, the outputs of every committed bundle on its whole holdout, computed natively.
//! The browser test `tests/browser/agreement.test.mjs` compares them with the wasm build's.
//! Usage: cargo run --example holdout_outputs > outputs.json

use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut outputs = BTreeMap::new();
    for model in std::fs::read_dir("models")?.flatten() {
        for version in std::fs::read_dir(model.path()).into_iter().flatten().flatten() {
            let dir = version.path();
            if !dir.join("manifest.json").exists() {
                continue;
            }
            let manifest = std::fs::read(dir.join("manifest.json"))?;
            let mut predictor = wasm_predict::Predictor::load(&manifest, &std::fs::read(dir.join("model.onnx"))?)?;
            let rows = &predictor.manifest().performance.holdout.inputs;
            let flat: Vec<f32> = rows.iter().flatten().copied().collect();
            let count = rows.len();
            let id = predictor.manifest().id();
            let batch = predictor.predict_batch(&flat, count)?;
            outputs.insert(id, batch.outputs);
        }
    }
    println!("{}", serde_json::to_string(&outputs)?);
    Ok(())
}

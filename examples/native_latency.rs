//! Native latency of the bundled models, one row and a batch of 256: `cargo run --release --example native_latency`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for name in std::env::args().skip(1).collect::<Vec<_>>().into_iter().chain(
        ["digits-mlp", "digits-mlp-int8"]
            .into_iter()
            .map(String::from)
            .take(if std::env::args().len() > 1 { 0 } else { 2 }),
    ) {
        let dir = format!("models/{name}/1.0.0");
        let mut predictor = wasm_predict::Predictor::load(
            &std::fs::read(format!("{dir}/manifest.json"))?,
            &std::fs::read(format!("{dir}/model.onnx"))?,
        )?;
        let rows = predictor.manifest().performance.holdout.inputs.clone();
        let flat: Vec<f32> = rows.iter().cycle().take(256).flatten().copied().collect();
        let start = Instant::now();
        for i in 0..20_000 {
            predictor.predict(&rows[i % rows.len()])?;
        }
        let row = start.elapsed().as_secs_f64() * 1e6 / 20_000.0;
        let start = Instant::now();
        for _ in 0..200 {
            predictor.predict_batch(&flat, 256)?;
        }
        let batch = start.elapsed().as_secs_f64() * 1e6 / 200.0;
        println!("{name}: one row {row:.1} us, batch of 256 {batch:.0} us");
    }
    Ok(())
}

//! Times the predictor natively on corpus models (tests/corpus), for `scripts/bench.sh`: one row
//! and a batch of 256 through the whole predictor, and for tree ensembles the kernel alone with
//! the node visits of a row, so its time per visit can be read. Prints JSON.
//! Usage: cargo run --profile server --example native_bench -- CASE...
// The corpus harness it shares with the tests unwraps what the committed corpus guarantees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use prost::Message;
use wasm_predict::ops::tree_ensemble::TreeEnsembleOp;
use wasm_predict::Predictor;

#[allow(dead_code)]
#[path = "../tests/support/corpus.rs"]
mod corpus;

/// Calls per timed block, and blocks; the figure is the median of the blocks' means.
const BLOCKS: usize = 15;

fn median_us(f: impl FnMut(usize), per_block: usize) -> f64 {
    blocks_us(f, per_block)[BLOCKS / 2]
}

/// The blocks' mean times, fastest first.
fn blocks_us(mut f: impl FnMut(usize), per_block: usize) -> Vec<f64> {
    for i in 0..per_block {
        f(i);
    }
    let mut means: Vec<f64> = (0..BLOCKS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..per_block {
                f(i);
            }
            start.elapsed().as_secs_f64() * 1e6 / per_block as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut results = serde_json::Map::new();
    for name in std::env::args().skip(1) {
        let dir = format!("tests/corpus/{name}");
        let case: corpus::Case = serde_json::from_slice(&std::fs::read(format!("{dir}/case.json"))?)?;
        let model = std::fs::read(format!("{dir}/model.onnx"))?;
        let mut predictor = Predictor::from_model(corpus::manifest_for(&case, &model), &model)?;
        let rows: Vec<Vec<f32>> = case
            .inputs
            .iter()
            .map(|r| r.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
            .collect();
        let batch: Vec<f32> = (0..256).flat_map(|i| rows[i % rows.len()].clone()).collect();
        let row_us = median_us(|i| drop(predictor.predict(&rows[i % rows.len()])), 2000);
        let batch_us = median_us(|_| drop(predictor.predict_batch(&batch, 256)), 20);
        let mut entry = serde_json::json!({ "row_us": row_us, "batch256_us": batch_us });

        let proto = tract_onnx::pb::ModelProto::decode(model.as_slice())?;
        let tree = proto
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .find(|n| n.op_type.starts_with("TreeEnsemble"));
        if let Some(node) = tree {
            let op = TreeEnsembleOp::from_node(node)?;
            let forest = op.forest();
            let width = rows[0].len();
            let kernel_blocks = blocks_us(|i| drop(forest.evaluate(&rows[i % rows.len()], width, 1)), 2000);
            let kernel_us = kernel_blocks[BLOCKS / 2];
            let kernel_batch_us = median_us(|_| drop(forest.evaluate(&batch, width, 256)), 20);
            let visits = rows.iter().map(|r| forest.visits(r)).sum::<usize>() as f64 / rows.len() as f64;
            entry["trees"] = forest.trees().into();
            entry["batches_by_leaf_masks"] = forest.batches_by_leaf_masks().into();
            entry["visits_per_row"] = visits.into();
            entry["kernel_row_us"] = kernel_us.into();
            entry["kernel_batch256_us"] = kernel_batch_us.into();
            entry["kernel_ns_per_visit_row"] = (kernel_us * 1e3 / visits).into();
            // The fastest block: what the kernel does when the machine's other work leaves it be.
            entry["kernel_ns_per_visit_row_fastest"] = (kernel_blocks[0] * 1e3 / visits).into();
            entry["kernel_ns_per_visit_batch"] = (kernel_batch_us * 1e3 / (visits * 256.0)).into();
        }
        results.insert(name, entry);
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}

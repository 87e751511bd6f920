//! `wasm-predict prune`: magnitude pruning of MatMul, Gemm and Conv weights within an accuracy
//! budget.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::prune::{self, PruneRequest, Scope};

use crate::args::{task_of, DataColumns, RewriteOutput};
use crate::output::{print, verdict, with_spinner};

/// The arguments of `wasm-predict prune`.
#[derive(clap::Args)]
pub struct Args {
    /// The float ONNX model.
    pub model: PathBuf,
    /// Share of the weights to zero, the smallest first (50% or 0.5).
    #[arg(long, value_parser = prune::parse_sparsity)]
    pub sparsity: f64,
    /// `layer`: each layer to the sparsity; `global`: one threshold across layers.
    #[arg(long, default_value = "layer")]
    pub scope: Scope,
    /// In global scope, no layer loses more than this share of its weights.
    #[arg(long, default_value = "90%", value_parser = prune::parse_sparsity)]
    pub max_layer_sparsity: f64,
    /// Layers with fewer weights than this stay dense (an output layer of a few dozen weights).
    #[arg(long, default_value_t = 256)]
    pub min_layer_weights: usize,
    /// Labelled rows to compare dense and pruned on, CSV or Parquet.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: DataColumns,
    /// Classification or regression (default: read from the graph).
    #[arg(long, value_parser = ["classification", "regression"])]
    pub task: Option<String>,
    #[command(flatten)]
    pub output: RewriteOutput,
}

/// Runs `wasm-predict prune`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let request = PruneRequest {
        model: args.model,
        data: args.data,
        columns: args.columns.columns(None),
        task: args.task.as_deref().map(task_of),
        sparsity: args.sparsity,
        scope: args.scope,
        max_layer_sparsity: args.max_layer_sparsity,
        min_layer_weights: args.min_layer_weights,
        max_drop: args.output.max_accuracy_drop,
        out: args.output.out,
        force: args.output.force,
    };
    let report = with_spinner("pruning, evaluating", || prune::prune(&request))?;
    print(args.output.json, &report, prune::render(&report))?;
    Ok(verdict(report.evaluation.accepted))
}

//! `wasm-predict quantize`: int8 quantization (weights, and activations from calibration data)
//! within an accuracy budget.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::quantize::{self, QuantizeRequest};

use crate::args::{task_of, DataColumns, RewriteOutput};
use crate::output::{print, verdict, with_spinner};

/// The arguments of `wasm-predict quantize`.
#[derive(clap::Args)]
pub struct Args {
    /// The float ONNX model.
    pub model: PathBuf,
    /// Rows to calibrate activation ranges on, CSV or Parquet (the target column may be absent).
    #[arg(long)]
    pub calibration: PathBuf,
    /// Labelled rows to compare float and int8 on (default: the calibration rows).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub columns: DataColumns,
    /// Classification or regression (default: read from the graph).
    #[arg(long, value_parser = ["classification", "regression"])]
    pub task: Option<String>,
    /// Quantize weights only, not activations.
    #[arg(long)]
    pub weights_only: bool,
    /// Calibration rows used, at most.
    #[arg(long, default_value_t = 1000)]
    pub calibration_rows: usize,
    #[command(flatten)]
    pub output: RewriteOutput,
}

/// Runs `wasm-predict quantize`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let request = QuantizeRequest {
        model: args.model,
        calibration: args.calibration,
        data: args.data,
        columns: args.columns.columns(None),
        task: args.task.as_deref().map(task_of),
        activations: !args.weights_only,
        calibration_rows: args.calibration_rows,
        max_drop: args.output.max_accuracy_drop,
        out: args.output.out,
        force: args.output.force,
    };
    let report = with_spinner("calibrating, quantizing, evaluating", || quantize::quantize(&request))?;
    print(args.output.json, &report, quantize::render(&report))?;
    Ok(verdict(report.evaluation.accepted))
}

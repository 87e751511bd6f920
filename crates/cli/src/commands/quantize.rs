//! `wasm-predict quantize`: int8 quantization (weights, and activations from calibration data)
//! within an accuracy budget.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::budget;
use wasm_predict_modelops::quantize::{self, QuantizeRequest};

use crate::args::{task_of, DataColumns};
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
    /// Refuse the int8 model if the metric drops by more than this (0.5% or 0.005).
    #[arg(long, default_value = "0.5%", value_parser = budget::parse_budget)]
    pub max_accuracy_drop: f64,
    /// Quantize weights only, not activations.
    #[arg(long)]
    pub weights_only: bool,
    /// Calibration rows used, at most.
    #[arg(long, default_value_t = 1000)]
    pub calibration_rows: usize,
    /// Where to write the int8 model.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
        max_drop: args.max_accuracy_drop,
        out: args.out,
        force: args.force,
    };
    let report = with_spinner("calibrating, quantizing, evaluating", || quantize::quantize(&request))?;
    print(args.json, &report, quantize::render(&report))?;
    Ok(verdict(report.evaluation.accepted))
}

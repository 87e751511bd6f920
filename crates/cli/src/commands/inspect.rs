//! `wasm-predict inspect`: inputs, outputs, ops by domain, parameters, int8 ops, and whether every
//! node is supported.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wasm_predict_modelops::graph;

use crate::output::{print, verdict};

/// The arguments of `wasm-predict inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict inspect`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args { model, json } = args;
    let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
    let summary = graph::summarize(&bytes).with_context(|| model.display().to_string())?;
    print(json, &summary, graph::render(&model.display().to_string(), &summary))?;
    Ok(verdict(summary.support.supported))
}

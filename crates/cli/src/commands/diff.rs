//! `wasm-predict diff`: the differential test of two bundles on the same data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::dataset::{read_table, Columns};
use wasm_predict_modelops::diff::{self, DiffThresholds};
use wasm_predict_modelops::verify;

use crate::output::{print, verdict};

/// The arguments of `wasm-predict diff`.
#[derive(clap::Args)]
pub struct Args {
    /// The old bundle folder.
    pub old: PathBuf,
    /// The new bundle folder.
    pub new: PathBuf,
    /// Rows to compare, CSV or Parquet.
    #[arg(long)]
    pub data: PathBuf,
    /// The target column, if the data has one (then both models' metrics are shown).
    #[arg(long)]
    pub target: Option<String>,
    /// The feature columns (default: every other column but the time column).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// A time column to leave out of the features.
    #[arg(long)]
    pub time_column: Option<String>,
    /// Fail when labels disagree on more than this share of rows.
    #[arg(long, default_value_t = 0.01)]
    pub max_disagreement: f64,
    /// Fail when any output differs by more than this.
    #[arg(long, default_value_t = 1.0)]
    pub max_abs_diff: f64,
    /// Rows listed among those that differ most.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict diff`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        old,
        new,
        data,
        target,
        features,
        time_column,
        max_disagreement,
        max_abs_diff,
        top,
        json,
    } = args;
    let (mut a, mut b) = (verify::load(&old)?, verify::load(&new)?);
    let columns = Columns {
        target,
        time: time_column,
        features,
    };
    let dataset = read_table(&data)?.dataset_for(&columns, a.manifest())?;
    let report = diff::diff(
        &mut a,
        &mut b,
        &dataset,
        DiffThresholds {
            max_disagreement,
            max_abs_diff,
        },
        top,
    )?;
    print(json, &report, diff::render(&report))?;
    Ok(verdict(report.failures.is_empty()))
}

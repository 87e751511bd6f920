//! `wasm-predict promote`: make the challenger the champion, if it earns it; raise its minimum (the
//! ratchet).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::diff::DiffThresholds;
use wasm_predict_modelops::promote::{self, PromoteRequest};
use wasm_predict_modelops::verify;

use crate::args::History;
use crate::output::{print, verdict, with_spinner};

/// The arguments of `wasm-predict promote`.
#[derive(clap::Args)]
pub struct Args {
    /// The challenger's bundle folder.
    pub challenger: PathBuf,
    /// The champion's bundle folder.
    #[arg(long)]
    pub over: PathBuf,
    #[command(flatten)]
    pub history: History,
    /// The challenger must beat the champion out of time by at least this.
    #[arg(long, default_value_t = 0.01)]
    pub margin: f64,
    /// The new minimum is what the challenger achieved on its holdout less this.
    #[arg(long, default_value_t = 0.01)]
    pub ratchet_margin: f64,
    /// Diff gate: most label disagreement allowed.
    #[arg(long, default_value_t = 0.5)]
    pub max_disagreement: f64,
    /// Diff gate: largest output difference allowed.
    #[arg(long, default_value_t = 1.0)]
    pub max_abs_diff: f64,
    /// The experiment config to start from.
    #[arg(long, default_value = "www/experiment.json")]
    pub experiment: PathBuf,
    /// Where to write the new config (default: over the one read).
    #[arg(long)]
    pub experiment_out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict promote`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        challenger,
        over,
        history,
        margin,
        ratchet_margin,
        max_disagreement,
        max_abs_diff,
        experiment,
        experiment_out,
        json,
    } = args;
    let dataset = history.dataset(verify::load(&over)?.manifest())?;
    let request = PromoteRequest {
        challenger,
        champion: over,
        window: history.window,
        margin,
        ratchet_margin,
        thresholds: DiffThresholds {
            max_disagreement,
            max_abs_diff,
        },
        experiment_out: experiment_out.unwrap_or_else(|| experiment.clone()),
        experiment,
    };
    let report = with_spinner("checking the challenger", || promote::promote(&request, &dataset))?;
    print(json, &report, promote::render(&report))?;
    Ok(verdict(report.promoted))
}

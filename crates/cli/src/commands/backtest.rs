//! `wasm-predict backtest`: replay the whole history through champion and challenger, window by
//! window.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wasm_predict_modelops::backtest::{self};
use wasm_predict_modelops::verify;

use crate::args::History;
use crate::output::{print, with_spinner};

/// The arguments of `wasm-predict backtest`.
#[derive(clap::Args)]
pub struct Args {
    /// The champion's bundle folder.
    #[arg(long)]
    pub champion: PathBuf,
    /// The challenger's bundle folder.
    #[arg(long)]
    pub challenger: PathBuf,
    #[command(flatten)]
    pub history: History,
    /// Write the HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write the JSON summary here.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict backtest`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        champion,
        challenger,
        history,
        html,
        summary,
        json,
    } = args;
    let (mut a, mut b) = (verify::load(&champion)?, verify::load(&challenger)?);
    let dataset = history.dataset(a.manifest())?;
    let report = with_spinner("backtesting", || {
        backtest::backtest(&mut a, &mut b, &dataset, history.window)
    })?;
    if let Some(path) = &html {
        std::fs::write(path, backtest::html(&report)).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &summary {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print(json, &report, backtest::render(&report))?;
    Ok(ExitCode::SUCCESS)
}

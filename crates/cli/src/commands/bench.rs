//! `wasm-predict bench`: latency of two bundles per row and per batch, natively and in headless
//! chromium, as NEW/OLD.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use wasm_predict_modelops::bench::{self, BenchRequest, BrowserOptions};

use crate::args::parse_ratio;
use crate::output::{print, verdict, with_spinner};

/// The arguments of `wasm-predict bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The old bundle folder.
    pub old: PathBuf,
    /// The new bundle folder.
    pub new: PathBuf,
    /// Fail when NEW is slower than OLD by more than this in any setting (10% or 0.10).
    #[arg(long, default_value = "10%", value_parser = parse_ratio)]
    pub tolerance: f64,
    /// Rows per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed blocks per version (interleaved; the figure is their median).
    #[arg(long, default_value_t = 15)]
    pub blocks: usize,
    /// One-row predictions per block.
    #[arg(long, default_value_t = 100)]
    pub per_block: usize,
    /// Skip the browser.
    #[arg(long)]
    pub native_only: bool,
    /// The chromium binary.
    #[arg(long, env = "CHROMIUM", default_value = "/usr/bin/chromium")]
    pub chromium: PathBuf,
    /// The built wasm package.
    #[arg(long, default_value = "pkg")]
    pub pkg: PathBuf,
    /// Seconds the browser side may take.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict bench`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        old,
        new,
        tolerance,
        batch,
        blocks,
        per_block,
        native_only,
        chromium,
        pkg,
        timeout,
        json,
    } = args;
    anyhow::ensure!(
        batch > 0 && blocks > 0 && per_block > 0,
        "--batch, --blocks and --per-block must be positive"
    );
    let request = BenchRequest {
        old,
        new,
        batch,
        blocks,
        per_block,
        tolerance,
        browser: (!native_only).then(|| BrowserOptions {
            chromium,
            pkg,
            timeout: Duration::from_secs(timeout),
        }),
    };
    let report = with_spinner("timing both versions, natively then in chromium", || {
        bench::bench(&request)
    })?;
    print(json, &report, bench::render(&report))?;
    Ok(verdict(report.passed))
}

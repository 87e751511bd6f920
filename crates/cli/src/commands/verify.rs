//! `wasm-predict verify`: load bundles as the browser does; check hash, schema, fixtures and the
//! minimum performance.

use std::process::ExitCode;

use anyhow::Result;
use indicatif::ProgressBar;
use wasm_predict_modelops::verify;

use crate::output::{print, verdict};

/// The arguments of `wasm-predict verify`.
pub type Args = crate::args::Bundles;

/// Runs `wasm-predict verify`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args { bundles, json } = args;
    let folders = verify::bundle_folders(&bundles)?;
    let bar = ProgressBar::new(folders.len() as u64);
    let checks: Vec<_> = folders
        .iter()
        .map(|f| {
            bar.set_message(f.display().to_string());
            let check = verify::verify_bundle(f);
            bar.inc(1);
            check
        })
        .collect();
    bar.finish_and_clear();
    let text: String = checks.iter().map(verify::render).collect();
    print(json, &checks, text)?;
    Ok(verdict(checks.iter().all(|c| c.passed)))
}

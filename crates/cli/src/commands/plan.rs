//! `wasm-predict plan`: compile bundles for the runtime (`model.plan`, loaded in the browser
//! without the ONNX importer) and state the plan in their manifests.

use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::{plan, verify};

use crate::output::{print, verdict};

/// The arguments of `wasm-predict plan`.
pub type Args = crate::args::Bundles;

/// Runs `wasm-predict plan`: every bundle gets its plan, or an error saying why it cannot.
pub fn exec(args: Args) -> Result<ExitCode> {
    let Args { bundles, json } = args;
    let folders = verify::bundle_folders(&bundles)?;
    let (mut written, mut text, mut ok) = (Vec::new(), String::new(), true);
    for folder in &folders {
        match plan::write_plan(folder) {
            Ok(summary) => {
                text.push_str(&plan::render(&summary));
                written.push(summary);
            }
            Err(e) => {
                ok = false;
                text.push_str(&format!("{}: no plan: {e:#}\n", folder.display()));
            }
        }
    }
    print(json, &written, text)?;
    Ok(verdict(ok))
}

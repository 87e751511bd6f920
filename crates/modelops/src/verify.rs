//! `verify`: loads a bundle exactly as the browser does (manifest, sha256, graph, fixtures) and
//! measures its performance on the bundled holdout against its minimum.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use wasm_predict::{Predictor, VerificationReport};

/// One bundle's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct BundleCheck {
    /// The bundle folder.
    pub path: PathBuf,
    /// Passed everything.
    pub passed: bool,
    /// Why it failed to load (hash, schema, graph, fixtures), if it did.
    pub error: Option<String>,
    /// Fixtures and performance, when it loaded.
    pub report: Option<VerificationReport>,
}

/// The bundle at `dir`: `manifest.json` and `model.onnx`.
pub fn read_bundle(dir: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let manifest =
        std::fs::read(dir.join("manifest.json")).with_context(|| format!("{}: no manifest.json", dir.display()))?;
    let model = std::fs::read(dir.join("model.onnx")).with_context(|| format!("{}: no model.onnx", dir.display()))?;
    Ok((manifest, model))
}

/// Loads the bundle at `dir` as the browser would.
pub fn load(dir: &Path) -> Result<Predictor> {
    let (manifest, model) = read_bundle(dir)?;
    Predictor::load(&manifest, &model).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

/// Verifies one bundle; never fails, the verdict says what went wrong.
pub fn verify_bundle(dir: &Path) -> BundleCheck {
    let path = dir.to_path_buf();
    let loaded = read_bundle(dir)
        .and_then(|(manifest, model)| Predictor::load(&manifest, &model).map_err(|e| anyhow::anyhow!("{e}")));
    match loaded {
        Err(e) => BundleCheck {
            path,
            passed: false,
            error: Some(format!("{e:#}")),
            report: None,
        },
        Ok(mut predictor) => match wasm_predict::verify(&mut predictor) {
            Ok(report) => BundleCheck {
                path,
                passed: report.passed,
                error: None,
                report: Some(report),
            },
            Err(e) => BundleCheck {
                path,
                passed: false,
                error: Some(e.to_string()),
                report: None,
            },
        },
    }
}

/// Every bundle folder at or under `root`: a bundle, a folder of versions, or a models folder
/// (`<root>/<name>/<version>/manifest.json`); an error if there is none.
pub fn bundles_under(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    collect_bundles(root, 2, &mut found)?;
    if found.is_empty() {
        anyhow::bail!(
            "{}: no bundle (a folder with manifest.json) here or two levels below",
            root.display()
        );
    }
    found.sort();
    Ok(found)
}

fn collect_bundles(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> Result<()> {
    if dir.join("manifest.json").is_file() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    if depth == 0 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_bundles(&path, depth - 1, found)?;
        }
    }
    Ok(())
}

/// A verdict as text.
pub fn render(check: &BundleCheck) -> String {
    let mut out = format!(
        "{}: {}\n",
        check.path.display(),
        if check.passed { "PASS" } else { "FAIL" }
    );
    if let Some(error) = &check.error {
        out.push_str(&format!("  does not load: {error}\n"));
    }
    if let Some(report) = &check.report {
        let failed: Vec<String> = report
            .fixtures
            .iter()
            .filter(|f| !f.passed)
            .map(|f| format!("#{} (off by {:.3e})", f.index, f.max_abs_diff))
            .collect();
        out.push_str(&format!(
            "  hash, schema and graph: ok\n  fixtures: {}/{} within {}{}\n  {:?}: {:.4} on {} holdout rows, minimum {} -> {}\n",
            report.fixtures.len() - failed.len(),
            report.fixtures.len(),
            report.tolerance,
            if failed.is_empty() { String::new() } else { format!(", failing: {}", failed.join(", ")) },
            report.performance.metric,
            report.performance.achieved,
            report.performance.rows,
            report.performance.minimum,
            if report.performance.passed { "ok" } else { "BELOW THE MINIMUM" }
        ));
    }
    out
}

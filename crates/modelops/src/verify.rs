//! `verify`: loads a bundle exactly as the browser does (manifest, sha256, graph, fixtures) and
//! measures its performance on the bundled holdout against its minimum, and its memory against
//! the manifest's requirement.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use wasm_predict::manifest::PLAN_FILE;
use wasm_predict::{Predictor, VerificationReport};

use crate::memory::MemoryCheck;

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
    /// The same from its compiled plan (`model.plan`), when it has one and it loaded.
    pub plan: Option<VerificationReport>,
    /// Its memory, measured against the manifest's requirement, when it loaded.
    pub memory: Option<MemoryCheck>,
}

/// The bundle at `dir`: `manifest.json` and `model.onnx`.
pub fn read_bundle(dir: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let manifest =
        std::fs::read(dir.join("manifest.json")).with_context(|| format!("{}: no manifest.json", dir.display()))?;
    let model = std::fs::read(dir.join("model.onnx")).with_context(|| format!("{}: no model.onnx", dir.display()))?;
    Ok((manifest, model))
}

/// The bundle's compiled plan (`model.plan` in `dir`), when its manifest states one: `None` when
/// it states none (or does not parse), else the file's bytes or the reason they cannot be read.
pub fn read_stated_plan(dir: &Path, manifest: &[u8]) -> Option<Result<Vec<u8>>> {
    let states_plan = wasm_predict::Manifest::from_json(manifest).is_ok_and(|m| m.plan.is_some());
    states_plan.then(|| {
        let path = dir.join(PLAN_FILE);
        std::fs::read(&path).with_context(|| format!("{}: its manifest states a plan", path.display()))
    })
}

/// Loads the bundle at `dir` as the browser would.
pub fn load(dir: &Path) -> Result<Predictor> {
    let (manifest, model) = read_bundle(dir)?;
    Predictor::load(&manifest, &model).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

/// Verifies one bundle; never fails, the verdict says what went wrong. A bundle with a compiled
/// plan is verified twice, from `model.onnx` and from `model.plan`: both must pass.
pub fn verify_bundle(dir: &Path) -> BundleCheck {
    let path = dir.to_path_buf();
    let failed = |error: String| BundleCheck {
        path: dir.to_path_buf(),
        passed: false,
        error: Some(error),
        report: None,
        plan: None,
        memory: None,
    };
    let (manifest, model) = match read_bundle(dir) {
        Ok(bundle) => bundle,
        Err(e) => return failed(format!("{e:#}")),
    };
    let report = match Predictor::load(&manifest, &model).and_then(|mut p| wasm_predict::verify(&mut p)) {
        Ok(report) => report,
        Err(e) => return failed(e.to_string()),
    };
    let plan = read_stated_plan(dir, &manifest).map(|read| {
        read.map_err(|e| format!("{e:#}")).and_then(|plan| {
            Predictor::load_compiled(&manifest, &plan)
                .and_then(|mut p| wasm_predict::verify(&mut p))
                .map_err(|e| format!("from {PLAN_FILE}: {e}"))
        })
    });
    let (plan, mut error) = match plan {
        Some(Ok(plan)) => (Some(plan), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let mut memory = None;
    if let Ok(parsed) = wasm_predict::Manifest::from_json(&manifest) {
        if let Err(e) = crate::card::check_card(dir, &parsed) {
            error = error.or(Some(format!("{e:#}")));
        }
        match MemoryCheck::of(dir, &parsed) {
            Ok(check) => memory = Some(check),
            Err(e) if parsed.memory.is_some() => error = error.or(Some(format!("memory: {e:#}"))),
            Err(_) => {}
        }
    }
    BundleCheck {
        path,
        passed: report.passed
            && error.is_none()
            && plan.as_ref().is_none_or(|p| p.passed)
            && memory.as_ref().is_none_or(|m| m.passed),
        error,
        report: Some(report),
        plan,
        memory,
    }
}

/// The bundle folders that `paths` name: each a bundle, or a folder searched with
/// [`bundles_under`].
pub fn bundle_folders(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    for path in paths {
        if path.join("manifest.json").is_file() {
            folders.push(path.clone());
        } else {
            folders.extend(bundles_under(path)?);
        }
    }
    Ok(folders)
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
    if let Some(plan) = &check.plan {
        out.push_str(&format!(
            "  from {PLAN_FILE}: fixtures {}/{}, {:?} {:.4} -> {}\n",
            plan.fixtures.iter().filter(|f| f.passed).count(),
            plan.fixtures.len(),
            plan.performance.metric,
            plan.performance.achieved,
            if plan.passed { "ok" } else { "FAIL" }
        ));
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
    if let (Some(memory), Some(report)) = (&check.memory, &check.report) {
        let verdict = memory.describe(&format!("{} ({})", check.path.display(), report.model));
        let fail = if memory.passed { "" } else { "FAIL: " };
        out.push_str(&format!("  memory: {fail}{verdict}\n"));
    }
    out
}

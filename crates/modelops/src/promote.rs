//! `promote`: makes the challenger the champion only if it passes verify, beats the champion out
//! of time in the backtest by a margin, and passes the diff gate; then writes the experiment
//! config (the challenger serves everyone, the old champion is its fallback) and raises the
//! challenger's minimum to what it achieved less a margin (the ratchet), in its manifest.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use wasm_predict_manifest::{Manifest, RatchetStep};

use super::backtest::{self, BacktestReport, Window};
use super::dataset::Dataset;
use super::diff::{self, DiffReport, DiffThresholds};
use super::verify::{self, BundleCheck};

/// What promotion needs.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    /// The challenger's bundle folder.
    pub challenger: PathBuf,
    /// The champion's bundle folder.
    pub champion: PathBuf,
    /// The backtest window.
    pub window: Window,
    /// The challenger must beat the champion out of time by at least this.
    pub margin: f64,
    /// The new minimum is what the challenger achieved less this.
    pub ratchet_margin: f64,
    /// The diff gate.
    pub thresholds: DiffThresholds,
    /// The experiment config to start from.
    pub experiment: PathBuf,
    /// Where to write the new config (may be the same file).
    pub experiment_out: PathBuf,
}

/// The decision and its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteReport {
    /// Promoted, or refused.
    pub promoted: bool,
    /// Why not, one reason per failed condition.
    pub refusals: Vec<String>,
    /// The challenger's verify.
    pub verify: BundleCheck,
    /// The backtest, when the challenger loaded.
    pub backtest: Option<BacktestReport>,
    /// The diff, when both loaded.
    pub diff: Option<DiffReport>,
    /// The challenger's minimum before and after, when promoted.
    pub ratchet: Option<RatchetStep>,
    /// The config written, when promoted.
    pub experiment: Option<Value>,
}

/// Decides, and on success writes the config and the ratchet.
pub fn promote(request: &PromoteRequest, data: &Dataset) -> Result<PromoteReport> {
    let check = verify::verify_bundle(&request.challenger);
    let mut report = PromoteReport {
        promoted: false,
        refusals: Vec::new(),
        verify: check.clone(),
        backtest: None,
        diff: None,
        ratchet: None,
        experiment: None,
    };
    if !check.passed {
        report.refusals.push(format!(
            "the challenger fails verify{}",
            check.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
        ));
        return Ok(report);
    }
    let mut champion = verify::load(&request.champion)?;
    let mut challenger = verify::load(&request.challenger)?;
    let backtest = backtest::backtest(&mut champion, &mut challenger, data, request.window)?;
    match &backtest.out_of_time {
        None => report.refusals.push("the backtest has no window after both training windows: no out-of-time evidence".into()),
        Some(o) if o.difference < request.margin => report.refusals.push(format!(
            "out of time the challenger beats the champion by {:+.4} on average over {} windows, less than the {} required",
            o.difference, o.windows, request.margin
        )),
        Some(_) => {}
    }
    let diff = diff::diff(&mut champion, &mut challenger, data, request.thresholds, 10)?;
    report
        .refusals
        .extend(diff.failures.iter().map(|f| format!("diff gate: {f}")));
    if let (Some(old), Some(new)) = (diff.old_metric, diff.new_metric) {
        if new < old {
            report.refusals.push(format!(
                "on the whole data the challenger scores {new:.4}, under the champion's {old:.4}"
            ));
        }
    }
    report.backtest = Some(backtest);
    report.diff = Some(diff);
    if !report.refusals.is_empty() {
        return Ok(report);
    }

    let achieved = check
        .report
        .as_ref()
        .map(|r| r.performance.achieved)
        .context("verify gave no performance")?;
    let manifest_path = request.challenger.join("manifest.json");
    let mut manifest = Manifest::from_json(&std::fs::read(&manifest_path)?).map_err(|e| anyhow::anyhow!("{e}"))?;
    let old_champion = Manifest::from_json(&std::fs::read(request.champion.join("manifest.json"))?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let raised = (achieved - request.ratchet_margin).max(manifest.performance.minimum);
    let step = RatchetStep {
        from: manifest.performance.minimum,
        to: (raised * 1e6).round() / 1e6,
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        reason: format!(
            "promoted over {}: {:.4} on its holdout, {:+.4} over the champion out of time",
            old_champion.id(),
            achieved,
            report
                .backtest
                .as_ref()
                .and_then(|b| b.out_of_time.as_ref())
                .map_or(0.0, |o| o.difference)
        ),
    };
    manifest.performance.minimum = step.to;
    manifest.performance.ratchet.push(step.clone());
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    std::fs::write(&manifest_path, text).with_context(|| format!("writing {}", manifest_path.display()))?;
    report.ratchet = Some(step);

    let config = new_config(&request.experiment, &manifest, &old_champion)?;
    std::fs::write(&request.experiment_out, format!("{}\n", ordered_json(&config, 0)))
        .with_context(|| format!("writing {}", request.experiment_out.display()))?;
    report.experiment = Some(config);
    report.promoted = true;
    Ok(report)
}

fn arm_name(manifest: &Manifest) -> String {
    format!("{}-{}", manifest.name, manifest.version.replace('.', "-"))
}

/// The config after promotion: the challenger's arm serves everyone and is the champion; the old
/// champion's arm stays, at weight 0, as its fallback. Everything else in the config is kept.
fn new_config(path: &Path, promoted: &Manifest, previous: &Manifest) -> Result<Value> {
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{}: not JSON", path.display()))?;
    if !config.is_object() {
        bail!("{}: not an experiment config", path.display());
    }
    let (new_arm, old_arm) = (arm_name(promoted), arm_name(previous));
    config["arms"] = json!([
        { "name": new_arm, "bundle": promoted.id(), "weight": 1.0, "sha256": promoted.sha256 },
        { "name": old_arm, "bundle": previous.id(), "weight": 0.0, "sha256": previous.sha256 },
    ]);
    config["champion"] = json!(new_arm);
    config["fallback"] = json!(old_arm);
    config["enabled"] = json!(true);
    config["mode"] = json!("split");
    Ok(config)
}

/// The order keys are written in, as docs/shell.md documents the config; others follow.
const KEY_ORDER: [&str; 20] = [
    "schema",
    "id",
    "seed",
    "hashVersion",
    "enabled",
    "mode",
    "coverage",
    "champion",
    "fallback",
    "bundles",
    "latencyBudgetMs",
    "cacheSeconds",
    "arms",
    "telemetry",
    "name",
    "bundle",
    "weight",
    "sha256",
    "endpoint",
    "includeInputs",
];

/// Pretty JSON with object keys in [`KEY_ORDER`] (serde_json's maps sort them alphabetically).
fn ordered_json(value: &Value, depth: usize) -> String {
    let pad = "  ".repeat(depth + 1);
    let close = "  ".repeat(depth);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| KEY_ORDER.iter().position(|o| o == k).unwrap_or(KEY_ORDER.len()));
            let fields: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{pad}{}: {}",
                        Value::String((*k).clone()),
                        ordered_json(&map[k.as_str()], depth + 1)
                    )
                })
                .collect();
            format!("{{\n{}\n{close}}}", fields.join(",\n"))
        }
        Value::Array(items) if !items.is_empty() => {
            let items: Vec<String> = items
                .iter()
                .map(|v| format!("{pad}{}", ordered_json(v, depth + 1)))
                .collect();
            format!("[\n{}\n{close}]", items.join(",\n"))
        }
        other => other.to_string(),
    }
}

/// The decision as text.
pub fn render(report: &PromoteReport) -> String {
    let mut out = String::new();
    out.push_str(&verify::render(&report.verify));
    if let Some(b) = &report.backtest {
        out.push_str(&backtest::render(b));
    }
    if let Some(d) = &report.diff {
        out.push_str(&diff::render(d));
    }
    if report.promoted {
        if let Some(step) = &report.ratchet {
            out.push_str(&format!(
                "PROMOTED. The minimum is raised from {} to {} (the ratchet).\n",
                step.from, step.to
            ));
        }
    } else {
        out.push_str("REFUSED:\n");
        for reason in &report.refusals {
            out.push_str(&format!("  - {reason}\n"));
        }
    }
    out
}

//! The accuracy budget of a rewrite (`quantize`, `prune`): the original and the rewritten model
//! run on the same labelled rows through the predictor the browser runs, and the rewrite is
//! written only if its metric drops by no more than the budget.

use std::marker::PhantomData;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use wasm_predict::Predictor;
use wasm_predict_manifest::{Metric, Task};

use super::bundle::{draft_manifest, ModelDraft};
use super::dataset::Dataset;
use super::{evaluate, median};

/// What the two models of a rewrite are called, in reports and their JSON keys.
pub trait Sides {
    /// The original model (`float`, `dense`).
    const BEFORE: &'static str;
    /// The rewritten one (`int8`, `pruned`).
    const AFTER: &'static str;
}

/// A figure of the original model and of the rewritten one, written under the names `S` gives.
#[derive(Debug, Clone, Copy)]
pub struct Change<T, S> {
    /// The original model's.
    pub before: T,
    /// The rewritten model's.
    pub after: T,
    sides: PhantomData<S>,
}

impl<T, S> Change<T, S> {
    /// The figure before and after.
    pub fn new(before: T, after: T) -> Self {
        Change {
            before,
            after,
            sides: PhantomData,
        }
    }
}

impl<T: Serialize, S: Sides> Serialize for Change<T, S> {
    fn serialize<W: Serializer>(&self, serializer: W) -> Result<W::Ok, W::Error> {
        let mut fields = serializer.serialize_struct("Change", 2)?;
        fields.serialize_field(S::BEFORE, &self.before)?;
        fields.serialize_field(S::AFTER, &self.after)?;
        fields.end()
    }
}

/// How the rewritten model compares with the original on labelled rows, and the verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(bound = "")]
pub struct Evaluation<S: Sides> {
    /// The metric compared.
    pub metric: Metric,
    /// The rows it was measured on.
    pub evaluated_on: String,
    /// How many.
    pub rows: usize,
    /// Metric of each model.
    pub score: Change<f64, S>,
    /// Original − rewritten (positive is worse).
    pub drop: f64,
    /// The budget.
    pub max_drop: f64,
    /// Share of rows where both give the same label (classification).
    pub agreement: Option<f64>,
    /// Largest output difference between the two.
    pub max_abs_diff: f32,
    /// Median latency of one-row predictions, microseconds (native, this machine).
    pub latency_us: Change<f64, S>,
    /// Accepted within the budget.
    pub accepted: bool,
}

/// One-row predictions timed per model; the two run alternately so a busy neighbour slows both.
pub const LATENCY_ROWS: usize = 200;

fn latencies(a: &mut Predictor, b: &mut Predictor, rows: &[Vec<f32>]) -> Result<(f64, f64)> {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for row in rows.iter().cycle().take(LATENCY_ROWS) {
        for (p, times) in [(&mut *a, &mut ta), (&mut *b, &mut tb)] {
            let start = Instant::now();
            p.predict(row).map_err(|e| anyhow!("{e}"))?;
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok((median(ta), median(tb)))
}

/// Runs `original` (named `label` in errors) and `rewritten` on the labelled rows of `data` and
/// judges the rewrite against `max_drop`.
pub fn evaluate<S: Sides>(
    original: &ModelDraft,
    label: &str,
    rewritten: &ModelDraft,
    data: &Dataset,
    max_drop: f64,
) -> Result<Evaluation<S>> {
    let targets = data.require_targets()?.to_vec();
    // One manifest serves both: a rewrite keeps the interface, and neither is checked by hash.
    let manifest = draft_manifest(original, "rewrite", "0.0.0", data)?;
    let mut before = Predictor::from_model(manifest.clone(), &original.bytes).map_err(|e| anyhow!("{label}: {e}"))?;
    let mut after =
        Predictor::from_model(manifest, &rewritten.bytes).map_err(|e| anyhow!("the {} model: {e}", S::AFTER))?;
    let metric = before.manifest().performance.metric;
    let (a, b) = (
        evaluate::run(&mut before, &data.inputs)?,
        evaluate::run(&mut after, &data.inputs)?,
    );
    let score = Change::new(
        evaluate::score(metric, &a, &targets).unwrap_or(0.0),
        evaluate::score(metric, &b, &targets).unwrap_or(0.0),
    );
    let agreement = (original.task == Task::Classification && !a.labels.is_empty())
        .then(|| a.labels.iter().zip(&b.labels).filter(|(x, y)| x == y).count() as f64 / a.labels.len() as f64);
    let max_abs_diff = a
        .values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let (before_us, after_us) = latencies(&mut before, &mut after, &data.inputs)?;
    let drop = score.before - score.after;
    Ok(Evaluation {
        metric,
        evaluated_on: data.source.clone(),
        rows: data.inputs.len(),
        score,
        drop,
        max_drop,
        agreement,
        max_abs_diff,
        latency_us: Change::new(before_us, after_us),
        accepted: drop <= max_drop + 1e-12,
    })
}

/// Refuses to replace `out` unless `force`; checked before the work and again before writing.
pub fn check_out(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        bail!("{} exists; pass --force to replace it", out.display());
    }
    Ok(())
}

/// Writes the rewritten model to `out` if the evaluation accepted it; the path written, if any.
pub fn write_accepted<S: Sides>(
    evaluation: &Evaluation<S>,
    out: &Path,
    bytes: &[u8],
    force: bool,
) -> Result<Option<String>> {
    if !evaluation.accepted {
        return Ok(None);
    }
    check_out(out, force)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(Some(out.display().to_string()))
}

/// A share as a percentage with two decimals.
pub fn percent(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// The evaluation as text: the metric, the agreement, the latency, and the verdict (`written` is
/// the path written, if any).
pub fn render<S: Sides>(e: &Evaluation<S>, written: Option<&str>) -> String {
    let metric = match e.metric {
        Metric::Accuracy => "accuracy",
        Metric::R2 => "r2",
    };
    let mut out = format!(
        "  {metric:<8} {:>11}  →  {:>11}  (drop {}, budget {}) on {} rows of {}\n",
        format!("{:.4}", e.score.before),
        format!("{:.4}", e.score.after),
        percent(e.drop),
        percent(e.max_drop),
        e.rows,
        e.evaluated_on
    );
    if let Some(a) = e.agreement {
        out += &format!(
            "  same label on {} of rows; largest output difference {:.4}\n",
            percent(a),
            e.max_abs_diff
        );
    } else {
        out += &format!("  largest output difference {:.4}\n", e.max_abs_diff);
    }
    out += &format!(
        "  latency  {:>9.1} µs  →  {:>9.1} µs per row (native, median of {LATENCY_ROWS})\n",
        e.latency_us.before, e.latency_us.after
    );
    out += &match written {
        Some(path) => format!("accepted: wrote {path}\n"),
        None => format!(
            "refused: the {metric} drops by {}, more than the budget of {}; nothing written\n",
            percent(e.drop),
            percent(e.max_drop)
        ),
    };
    out
}

/// Reads a budget given as `0.5%` or as a fraction (`0.005`).
pub fn parse_budget(text: &str) -> Result<f64> {
    super::parse_fraction(text, "a budget", "0.5% or 0.005")
}

#[cfg(test)]
mod tests {
    use super::{parse_budget, Change, Sides};

    #[test]
    fn budgets_in_percent_or_fraction() {
        assert!((parse_budget("0.5%").unwrap() - 0.005).abs() < 1e-12);
        assert!((parse_budget("0.005").unwrap() - 0.005).abs() < 1e-12);
        assert!(parse_budget("half").is_err());
        assert!(parse_budget("150%").is_err());
        assert!(parse_budget("-1%").is_err());
    }

    #[test]
    fn a_change_is_written_under_the_names_of_its_sides() {
        struct Trimmed;
        impl Sides for Trimmed {
            const BEFORE: &'static str = "whole";
            const AFTER: &'static str = "trimmed";
        }
        let change: Change<u32, Trimmed> = Change::new(3, 2);
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            serde_json::json!({"whole": 3, "trimmed": 2})
        );
    }
}

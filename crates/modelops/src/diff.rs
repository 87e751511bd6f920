//! `diff`: the differential test of two bundles on the same rows: how often their labels
//! disagree, how far their outputs are apart, the confusion between their labels, and the rows
//! that differ most. Thresholds turn it into a gate.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Serialize;
use wasm_predict::Predictor;
use wasm_predict_manifest::Task;

use super::dataset::Dataset;
use super::evaluate::{self, Outputs};

/// One row where the two models differ.
#[derive(Debug, Clone, Serialize)]
pub struct RowDifference {
    /// Row index in the data (0-based, after the header).
    pub row: usize,
    /// Largest absolute output difference.
    pub max_abs_diff: f32,
    /// Old model's label (classification).
    pub old_label: Option<String>,
    /// New model's label (classification).
    pub new_label: Option<String>,
}

/// The differential report.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// `name@version` of the old model.
    pub old: String,
    /// `name@version` of the new model.
    pub new: String,
    /// Rows compared.
    pub rows: usize,
    /// Share of rows whose labels differ (classification).
    pub disagreement: Option<f64>,
    /// Mean over rows of the largest absolute output difference.
    pub mean_abs_diff: f64,
    /// Largest absolute output difference on any row.
    pub max_abs_diff: f32,
    /// Old label → new label → rows (classification).
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// The rows that differ most, largest first.
    pub top_rows: Vec<RowDifference>,
    /// Each model's metric, when the data has targets.
    pub old_metric: Option<f64>,
    /// The new model's.
    pub new_metric: Option<f64>,
    /// Threshold verdicts that failed; empty when the gate passes.
    pub failures: Vec<String>,
}

/// Gates on a diff.
#[derive(Debug, Clone, Copy)]
pub struct DiffThresholds {
    /// Most label disagreement allowed.
    pub max_disagreement: f64,
    /// Largest output difference allowed on any row.
    pub max_abs_diff: f64,
}

/// Compares `old` and `new` on `data`.
pub fn diff(
    old: &mut Predictor,
    new: &mut Predictor,
    data: &Dataset,
    thresholds: DiffThresholds,
    top: usize,
) -> Result<DiffReport> {
    let (a, b) = (old.manifest().clone(), new.manifest().clone());
    if a.task != b.task {
        bail!(
            "{} is a {:?} model, {} a {:?} model: nothing to compare",
            a.id(),
            a.task,
            b.id(),
            b.task
        );
    }
    if a.feature_count() != b.feature_count() {
        bail!(
            "{} takes {} features, {} takes {}",
            a.id(),
            a.feature_count(),
            b.id(),
            b.feature_count()
        );
    }
    data.check_width(a.feature_count())?;
    let (x, y) = (evaluate::run(old, &data.inputs)?, evaluate::run(new, &data.inputs)?);
    let comparable = x.width == y.width;
    let row_diff = |r: usize| -> f32 {
        if comparable {
            x.row(r)
                .iter()
                .zip(y.row(r))
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max)
        } else {
            f32::NAN
        }
    };
    let rows = x.rows();
    let diffs: Vec<f32> = (0..rows).map(row_diff).collect();
    let mut confusion: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut disagreeing = 0;
    if a.task == Task::Classification {
        for (p, q) in x.labels.iter().zip(&y.labels) {
            *confusion.entry(p.clone()).or_default().entry(q.clone()).or_default() += 1;
            disagreeing += u64::from(p != q);
        }
    }
    let mut order: Vec<usize> = (0..rows).collect();
    let label_of = |o: &Outputs, r: usize| o.labels.get(r).cloned();
    order.sort_by(|&i, &j| {
        let key = |r: usize| (u8::from(label_of(&x, r) != label_of(&y, r)), diffs[r]);
        key(j).0.cmp(&key(i).0).then(key(j).1.total_cmp(&key(i).1))
    });
    let top_rows = order
        .into_iter()
        .take(top)
        .filter(|&r| diffs[r] > 0.0 || label_of(&x, r) != label_of(&y, r))
        .map(|r| RowDifference {
            row: r,
            max_abs_diff: diffs[r],
            old_label: label_of(&x, r),
            new_label: label_of(&y, r),
        })
        .collect();
    let disagreement = (a.task == Task::Classification && rows > 0).then(|| disagreeing as f64 / rows as f64);
    let mean_abs_diff = if rows == 0 {
        0.0
    } else {
        diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / rows as f64
    };
    let max_abs_diff = diffs.iter().copied().fold(0.0, f32::max);
    let metric = a.performance.metric;
    let targets = data.targets.as_deref();
    let mut failures = Vec::new();
    if let Some(d) = disagreement {
        if d > thresholds.max_disagreement {
            failures.push(format!(
                "labels disagree on {:.2}% of rows, over the {:.2}% allowed",
                d * 100.0,
                thresholds.max_disagreement * 100.0
            ));
        }
    }
    if f64::from(max_abs_diff) > thresholds.max_abs_diff {
        failures.push(format!(
            "outputs differ by up to {max_abs_diff:.4}, over the {} allowed",
            thresholds.max_abs_diff
        ));
    }
    if !comparable {
        failures.push(format!(
            "the outputs have different widths ({} and {})",
            x.width, y.width
        ));
    }
    Ok(DiffReport {
        old: a.id(),
        new: b.id(),
        rows,
        disagreement,
        mean_abs_diff,
        max_abs_diff,
        confusion,
        top_rows,
        old_metric: targets.and_then(|t| evaluate::score(metric, &x, t)),
        new_metric: targets.and_then(|t| evaluate::score(metric, &y, t)),
        failures,
    })
}

/// The report as text.
pub fn render(report: &DiffReport) -> String {
    let mut out = format!("diff {} -> {} on {} rows\n", report.old, report.new, report.rows);
    if let Some(d) = report.disagreement {
        out.push_str(&format!("  labels disagree on {:.2}% of rows\n", d * 100.0));
    }
    out.push_str(&format!(
        "  output difference: mean {:.5}, max {:.5}\n",
        report.mean_abs_diff, report.max_abs_diff
    ));
    if let (Some(a), Some(b)) = (report.old_metric, report.new_metric) {
        out.push_str(&format!("  metric: old {a:.4}, new {b:.4} ({:+.4})\n", b - a));
    }
    if !report.confusion.is_empty() {
        out.push_str("  confusion (old label -> new label: rows):\n");
        for (old, row) in &report.confusion {
            let cells: Vec<String> = row.iter().map(|(new, n)| format!("{new}: {n}")).collect();
            out.push_str(&format!("    {old} -> {}\n", cells.join(", ")));
        }
    }
    if !report.top_rows.is_empty() {
        out.push_str("  rows that differ most:\n");
        for r in &report.top_rows {
            out.push_str(&format!(
                "    row {:>5}: max diff {:.5}{}\n",
                r.row,
                r.max_abs_diff,
                match (&r.old_label, &r.new_label) {
                    (Some(a), Some(b)) if a != b => format!(", label {a} -> {b}"),
                    _ => String::new(),
                }
            ));
        }
    }
    out.push_str(&if report.failures.is_empty() {
        "  gate: PASS\n".to_string()
    } else {
        format!("  gate: FAIL: {}\n", report.failures.join("; "))
    });
    out
}

//! Reports as readable text for the terminal (the `--json` flag prints them as JSON instead).

use std::fmt::Write;

use crate::reports::ab::AbReport;
use crate::reports::drift::DriftReport;
use crate::reports::now_test::{NowTest, Verdict};
use crate::reports::review::ReviewItem;
use crate::reports::threshold::AtThreshold;

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// The A/B report as text.
pub fn ab(report: &AbReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "A/B report: {} (champion {}, {} events)",
        report.experiment, report.champion, report.events
    );
    let _ = writeln!(
        out,
        "{:<12} {:>6} {:>8} {:>9} {:>8} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>22}",
        "arm",
        "weight",
        "clients",
        "exposures",
        "predict",
        "errors",
        "fallbacks",
        "p50 ms",
        "p99 ms",
        "conf",
        "outcomes",
        "accuracy [95% CI]"
    );
    for arm in &report.arms {
        let accuracy = match (&arm.accuracy, &arm.mean_absolute_error) {
            (Some(a), _) => format!("{:.3} [{:.3}, {:.3}]", a.value, a.low, a.high),
            (None, Some(m)) => format!("MAE {:.3} [{}, {}]", m.mean, opt(m.low, 3), opt(m.high, 3)),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "{:<12} {:>6.2} {:>8} {:>9} {:>8} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>22}",
            arm.arm,
            arm.weight,
            arm.clients,
            arm.exposures,
            arm.predictions,
            arm.errors,
            arm.fallbacks,
            opt(arm.latency_ms.map(|l| l.p50), 3),
            opt(arm.latency_ms.map(|l| l.p99), 3),
            opt(arm.mean_confidence, 3),
            arm.outcomes,
            accuracy
        );
    }
    for arm in &report.arms {
        if let Some(t) = &arm.at_threshold {
            let _ = writeln!(out, "{:<12} {}", arm.arm, at_threshold(t));
        }
    }
    for c in &report.comparisons {
        if let Some(a) = &c.accuracy {
            let _ = writeln!(
                out,
                "{} vs {}: accuracy {:+.4}, z = {:.3}, p = {:.4}",
                c.arm, report.champion, a.difference, a.statistic, a.p_value
            );
        }
        if let Some(m) = &c.mean_absolute_error {
            let _ = writeln!(
                out,
                "{} vs {}: MAE {:+.4}, t = {:.3}, p = {:.4}",
                c.arm, report.champion, m.difference, m.statistic, m.p_value
            );
        }
        if c.accuracy.is_none() && c.mean_absolute_error.is_none() {
            let _ = writeln!(out, "{} vs {}: not enough outcomes to compare", c.arm, report.champion);
        }
        if let Some(d) = &c.decision {
            let level = 100.0 * (1.0 - report.analysis.alpha);
            let sequence = d
                .sequential
                .map_or_else(|| "–".to_string(), |s| format!("[{:+.4}, {:+.4}]", s.low, s.high));
            let _ = writeln!(
                out,
                "  {}: always-valid {level:.0}% interval {sequence}, p = {} (Holm); fixed-horizon p = {:.4} (Holm) -> {}",
                d.metric,
                opt(d.sequential_adjusted_p_value, 4),
                d.adjusted_p_value,
                d.verdict
            );
        }
        if let Some(s) = &c.sample_size {
            let _ = writeln!(
                out,
                "  to detect {}: {} outcomes for {} and {} for {}; {} still to come",
                s.minimum_detectable_effect,
                s.champion_needed,
                report.champion,
                s.challenger_needed,
                c.arm,
                s.remaining
            );
        }
    }
    let srm = &report.sample_ratio;
    match &srm.test {
        Some(t) => {
            let _ = writeln!(
                out,
                "sample ratio: exposures {:?} for weights {:?}: chi2 = {:.3}, p = {:.4} -> {}",
                srm.observed,
                srm.expected_shares,
                t.statistic,
                t.p_value,
                if srm.mismatch {
                    "MISMATCH (p < 0.001): check assignment and logging"
                } else {
                    "ok"
                }
            );
        }
        None => {
            let _ = writeln!(out, "sample ratio: no exposures yet");
        }
    }
    out
}

/// The drift report as text.
pub fn drift(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "drift of {}: {} predictions, {} with inputs, PSI threshold {}",
        report.model, report.predictions, report.with_inputs, report.threshold
    );
    if report.with_inputs == 0 {
        let _ = writeln!(
            out,
            "  no inputs were logged (telemetry.includeInputs is off): features not checked"
        );
    }
    for d in report.features.iter().chain(&report.predictions_drift) {
        let missing = match (d.missing_share, d.reference_missing_share) {
            (Some(live), Some(reference)) if live > 0.0 || reference > 0.0 => {
                format!(" missing {:.1}% (reference {:.1}%)", live * 100.0, reference * 100.0)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<24} n={:<6} PSI={:<8} chi2 p={:<8} {}{missing}",
            d.name,
            d.n,
            opt(d.psi, 4),
            opt(d.test.map(|t| t.p_value), 4),
            if d.drifted { "DRIFTED" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "drifted: {}",
        if report.drifted.is_empty() {
            "none".to_string()
        } else {
            report.drifted.join(", ")
        }
    );
    out
}

/// The now-test as text.
pub fn now_test(report: &NowTest) -> String {
    let verdict = match report.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL: below the minimum",
        Verdict::NotEnoughData => "no verdict: not enough labelled outcomes",
    };
    let mut out = format!(
        "now-test of {}: {:?} {} on {} recent outcomes (minimum {}, {} at bundling): {verdict}\n",
        report.model,
        report.metric,
        opt(report.achieved, 4),
        report.outcomes,
        report.minimum,
        opt(report.at_bundling, 4)
    );
    if let Some(t) = &report.at_threshold {
        let _ = writeln!(out, "  {}", at_threshold(t));
    }
    out
}

/// Precision and recall of the positive class, and the threshold they were labelled at.
fn at_threshold(t: &AtThreshold) -> String {
    let share = |p: &Option<crate::reports::stats::Proportion>| match p {
        Some(p) => format!("{:.3} [{:.3}, {:.3}] of {}", p.value, p.low, p.high, p.n),
        None => "–".into(),
    };
    format!(
        "{:?} {}: precision {}, recall {}",
        t.positive.class,
        match t.positive.threshold {
            Some(threshold) => format!("at threshold {threshold}"),
            None => "as the most probable class".into(),
        },
        share(&t.precision),
        share(&t.recall)
    )
}

/// The review queue as text.
pub fn review(items: &[ReviewItem]) -> String {
    let mut out = format!(
        "review queue: {} predictions ({} labelled)\n",
        items.len(),
        items.iter().filter(|i| i.labelled).count()
    );
    for item in items.iter().take(50) {
        let _ = writeln!(
            out,
            "  {} {} {:<10} {:<24} label {:<6} conf {}{}",
            item.time,
            item.prediction_id,
            item.arm.as_deref().unwrap_or("–"),
            item.model.as_deref().unwrap_or("–"),
            item.label.as_deref().unwrap_or("–"),
            opt(item.confidence, 3),
            if item.inputs.is_some() { " (inputs)" } else { "" }
        );
    }
    out
}

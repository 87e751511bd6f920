//! `backtest`: replays the whole history through the champion and the challenger, window by
//! window, beside a naive baseline any model must beat (the previous window's majority class, or
//! the last value seen); windows inside a model's training window are marked, and the verdict
//! uses only the windows after both (out of time). Writes a JSON summary and an HTML report.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::{bail, Result};
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use wasm_predict::Predictor;
use wasm_predict_manifest::{Manifest, Metric, Target, Task};

use super::dataset::Dataset;
use super::evaluate;

/// How history is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// Calendar days.
    Day,
    /// ISO weeks.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
}

impl std::str::FromStr for Window {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" => Ok(Window::Day),
            "week" => Ok(Window::Week),
            "month" => Ok(Window::Month),
            "quarter" => Ok(Window::Quarter),
            _ => Err(format!("`{text}` is not a window: day, week, month or quarter")),
        }
    }
}

impl Window {
    /// The window a time falls in, as a sortable label.
    pub fn label(self, t: &DateTime<Utc>) -> String {
        match self {
            Self::Day => t.format("%Y-%m-%d").to_string(),
            Self::Week => t.format("%G-W%V").to_string(),
            Self::Month => t.format("%Y-%m").to_string(),
            Self::Quarter => format!("{}-Q{}", t.year(), (t.month() - 1) / 3 + 1),
        }
    }
}

/// One window's figures.
#[derive(Debug, Clone, Serialize)]
pub struct WindowResult {
    /// The window.
    pub window: String,
    /// Rows in it.
    pub rows: usize,
    /// The champion's metric.
    pub champion: f64,
    /// The challenger's.
    pub challenger: f64,
    /// The naive baseline's (none for the first window of a classifier).
    pub baseline: Option<f64>,
    /// challenger − champion.
    pub difference: f64,
    /// Some rows of this window lie in the champion's training window.
    pub champion_in_training: bool,
    /// …in the challenger's.
    pub challenger_in_training: bool,
}

/// Means over the windows after both training windows.
#[derive(Debug, Clone, Serialize)]
pub struct OutOfTime {
    /// Windows counted.
    pub windows: usize,
    /// Mean metric of the champion.
    pub champion: f64,
    /// Of the challenger.
    pub challenger: f64,
    /// Of the baseline.
    pub baseline: Option<f64>,
    /// Mean of challenger − champion.
    pub difference: f64,
    /// Windows the challenger won.
    pub challenger_wins: usize,
}

/// The backtest.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// `name@version`.
    pub champion: String,
    /// `name@version`.
    pub challenger: String,
    /// The metric.
    pub metric: Metric,
    /// The window size.
    pub window: Window,
    /// Rows replayed.
    pub rows: usize,
    /// Per window, in time order.
    pub windows: Vec<WindowResult>,
    /// The verdict's basis; none when no window lies after both training windows.
    pub out_of_time: Option<OutOfTime>,
}

fn training_window(manifest: &Manifest) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let window = manifest.provenance.training_data.window.as_ref()?;
    let parse = |s: &str| super::dataset::parse_time(s);
    Some((parse(&window.start)?, parse(&window.end)?))
}

fn baseline(
    task: Task,
    metric: Metric,
    previous: &[Target],
    current: &[Target],
    last_value: Option<f64>,
) -> Option<f64> {
    match task {
        Task::Classification => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for t in previous {
                if let Target::Label(l) = t {
                    *counts.entry(l).or_default() += 1;
                }
            }
            let majority = counts.into_iter().max_by_key(|(_, n)| *n)?.0;
            let right = current
                .iter()
                .filter(|t| matches!(t, Target::Label(l) if l == majority))
                .count();
            Some(right as f64 / current.len().max(1) as f64)
        }
        Task::Regression => {
            let truth: Vec<f64> = current
                .iter()
                .map(|t| if let Target::Value(v) = t { *v } else { f64::NAN })
                .collect();
            let mut last = last_value?;
            let guesses: Vec<f32> = truth
                .iter()
                .map(|v| {
                    let guess = last;
                    last = *v;
                    guess as f32
                })
                .collect();
            (metric == Metric::R2).then(|| wasm_predict::verify::r2(&truth, &guesses))
        }
    }
}

/// Replays `data` (which must have times and targets) through both models.
pub fn backtest(
    champion: &mut Predictor,
    challenger: &mut Predictor,
    data: &Dataset,
    window: Window,
) -> Result<BacktestReport> {
    let (a, b) = (champion.manifest().clone(), challenger.manifest().clone());
    if a.task != b.task {
        bail!("{} and {} do not predict the same kind of thing", a.id(), b.id());
    }
    data.check_width(a.feature_count())?;
    let Some(times) = &data.times else {
        bail!("{}: a backtest needs a time column (--time-column)", data.source)
    };
    let targets = data.require_targets()?;
    let mut order: Vec<usize> = (0..data.inputs.len()).collect();
    order.sort_by_key(|&i| times[i]);
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for i in order {
        let label = window.label(&times[i]);
        match groups.last_mut() {
            Some((last, rows)) if *last == label => rows.push(i),
            _ => groups.push((label, vec![i])),
        }
    }
    let metric = a.performance.metric;
    let (train_a, train_b) = (training_window(&a), training_window(&b));
    let overlaps = |span: Option<(DateTime<Utc>, DateTime<Utc>)>, rows: &[usize]| {
        span.is_some_and(|(start, end)| rows.iter().any(|&i| times[i] >= start && times[i] <= end))
    };
    let mut windows = Vec::new();
    let mut previous: Vec<Target> = Vec::new();
    let mut last_value: Option<f64> = None;
    for (label, rows) in &groups {
        let inputs: Vec<Vec<f32>> = rows.iter().map(|&i| data.inputs[i].clone()).collect();
        let truth: Vec<Target> = rows.iter().map(|&i| targets[i].clone()).collect();
        let score = |p: &mut Predictor| -> Result<f64> {
            Ok(evaluate::score(metric, &evaluate::run(p, &inputs)?, &truth).unwrap_or(f64::NAN))
        };
        let (x, y) = (score(champion)?, score(challenger)?);
        windows.push(WindowResult {
            window: label.clone(),
            rows: rows.len(),
            champion: x,
            challenger: y,
            baseline: baseline(a.task, metric, &previous, &truth, last_value),
            difference: y - x,
            champion_in_training: overlaps(train_a, rows),
            challenger_in_training: overlaps(train_b, rows),
        });
        if let Some(Target::Value(v)) = truth.last() {
            last_value = Some(*v);
        }
        previous = truth;
    }
    let after: Vec<&WindowResult> = windows
        .iter()
        .filter(|w| !w.champion_in_training && !w.challenger_in_training)
        .collect();
    let after_both = match (train_a, train_b) {
        (Some(x), Some(y)) => {
            let end = x.1.max(y.1);
            let last_training_window = window.label(&end);
            after
                .into_iter()
                .filter(|w| w.window > last_training_window)
                .collect::<Vec<_>>()
        }
        _ => after,
    };
    let mean =
        |f: &dyn Fn(&WindowResult) -> f64| after_both.iter().map(|w| f(w)).sum::<f64>() / after_both.len() as f64;
    let baselines: Vec<f64> = after_both.iter().filter_map(|w| w.baseline).collect();
    let out_of_time = (!after_both.is_empty()).then(|| OutOfTime {
        windows: after_both.len(),
        champion: mean(&|w| w.champion),
        challenger: mean(&|w| w.challenger),
        baseline: (!baselines.is_empty()).then(|| baselines.iter().sum::<f64>() / baselines.len() as f64),
        difference: mean(&|w| w.difference),
        challenger_wins: after_both.iter().filter(|w| w.difference > 0.0).count(),
    });
    Ok(BacktestReport {
        champion: a.id(),
        challenger: b.id(),
        metric,
        window,
        rows: data.inputs.len(),
        windows,
        out_of_time,
    })
}

/// The report as text.
pub fn render(report: &BacktestReport) -> String {
    let mut out = format!(
        "backtest {} (champion) vs {} (challenger), {:?} per {:?}, {} rows\n",
        report.champion, report.challenger, report.metric, report.window, report.rows
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>6} {:>9} {:>10} {:>9} {:>8}",
        "window", "rows", "champion", "challenger", "baseline", "diff"
    );
    for w in &report.windows {
        let marks = match (w.champion_in_training, w.challenger_in_training) {
            (true, true) => "  (both trained here)",
            (true, false) => "  (champion trained here)",
            (false, true) => "  (challenger trained here)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {:<10} {:>6} {:>9.4} {:>10.4} {:>9} {:>+8.4}{marks}",
            w.window,
            w.rows,
            w.champion,
            w.challenger,
            w.baseline.map_or("–".into(), |b| format!("{b:.4}")),
            w.difference
        );
    }
    match &report.out_of_time {
        Some(o) => {
            let _ = writeln!(
                out,
                "  out of time ({} windows after both trainings): champion {:.4}, challenger {:.4}, baseline {}, difference {:+.4}, challenger won {} of {}",
                o.windows,
                o.champion,
                o.challenger,
                o.baseline.map_or("–".into(), |b| format!("{b:.4}")),
                o.difference,
                o.challenger_wins,
                o.windows
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  no window lies after both training windows: no out-of-time verdict"
            );
        }
    }
    out
}

/// How a chart line reads its value from a window.
type Series = fn(&WindowResult) -> Option<f64>;

/// A self-contained HTML page: the metric per window for both models and the baseline (training
/// windows shaded), the difference per window, and the table. Inline SVG, no script.
pub fn html(report: &BacktestReport) -> String {
    let (width, height, left, right, top, bottom) = (960.0, 320.0, 56.0, 16.0, 16.0, 40.0);
    let n = report.windows.len().max(1);
    let x = |i: usize| left + (width - left - right) * (i as f64 + 0.5) / n as f64;
    let values: Vec<f64> = report
        .windows
        .iter()
        .flat_map(|w| [w.champion, w.challenger].into_iter().chain(w.baseline))
        .filter(|v| v.is_finite())
        .collect();
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let (low, high) = if low.is_finite() {
        (
            (low - 0.02).max(if report.metric == Metric::Accuracy {
                0.0
            } else {
                f64::NEG_INFINITY
            }),
            high + 0.02,
        )
    } else {
        (0.0, 1.0)
    };
    let y = |v: f64| top + (height - top - bottom) * (1.0 - (v - low) / (high - low).max(1e-9));
    let mut svg = format!(r#"<svg viewBox="0 0 {width} {height}" role="img" aria-label="metric per window">"#);
    for (i, w) in report.windows.iter().enumerate() {
        let span = (width - left - right) / n as f64;
        if w.champion_in_training {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{top}" width="{span:.1}" height="{:.1}" fill="#38bdf8" opacity="0.08"/>"##,
                x(i) - span / 2.0,
                height - top - bottom
            );
        }
        if w.challenger_in_training {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{top}" width="{span:.1}" height="{:.1}" fill="#f472b6" opacity="0.10"/>"##,
                x(i) - span / 2.0,
                height - top - bottom
            );
        }
    }
    for k in 0..=4 {
        let v = low + (high - low) * k as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#233250"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.2}</text>"##,
            width - right,
            y(v),
            y(v),
            left - 6.0,
            y(v) + 4.0
        );
    }
    let step = (n / 12).max(1);
    for (i, w) in report.windows.iter().enumerate().filter(|(i, _)| i % step == 0) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            height - 14.0,
            w.window
        );
    }
    let series: [(&str, &str, Series); 3] = [
        ("champion", "#38bdf8", |w| Some(w.champion)),
        ("challenger", "#f472b6", |w| Some(w.challenger)),
        ("baseline", "#94a3b8", |w| w.baseline),
    ];
    for (name, colour, value) in series {
        let points: Vec<String> = report
            .windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                value(w)
                    .filter(|v| v.is_finite())
                    .map(|v| format!("{:.1},{:.1}", x(i), y(v)))
            })
            .collect();
        let dash = if name == "baseline" {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2.5"{dash} points="{}"/>"#,
            points.join(" ")
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(svg, r#"<circle cx="{px}" cy="{py}" r="3" fill="{colour}"/>"#);
        }
    }
    svg.push_str("</svg>");

    let diff_height = 180.0;
    let max_diff = report
        .windows
        .iter()
        .map(|w| w.difference.abs())
        .filter(|d| d.is_finite())
        .fold(0.01, f64::max);
    let mid = diff_height / 2.0;
    let mut bars = format!(
        r##"<svg viewBox="0 0 {width} {diff_height}" role="img" aria-label="difference per window"><line x1="{left}" x2="{:.1}" y1="{mid}" y2="{mid}" stroke="#94a3b8"/>"##,
        width - right
    );
    let bar = (width - left - right) / n as f64 * 0.6;
    for (i, w) in report.windows.iter().enumerate() {
        let h = (w.difference / max_diff) * (mid - 12.0);
        let colour = if w.difference >= 0.0 { "#34d399" } else { "#f87171" };
        let _ = write!(
            bars,
            r#"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="{colour}"/>"#,
            x(i) - bar / 2.0,
            if h >= 0.0 { mid - h } else { mid },
            h.abs()
        );
    }
    let _ = write!(
        bars,
        r#"<text x="{:.1}" y="14" text-anchor="end">+{max_diff:.3}</text><text x="{:.1}" y="{:.1}" text-anchor="end">−{max_diff:.3}</text></svg>"#,
        left - 6.0,
        left - 6.0,
        diff_height - 4.0
    );

    let mut table = String::new();
    for w in &report.windows {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td class=\"{}\">{:+.4}</td><td>{}</td></tr>",
            w.window,
            w.rows,
            w.champion,
            w.challenger,
            w.baseline.map_or("–".into(), |b| format!("{b:.4}")),
            if w.difference >= 0.0 { "up" } else { "down" },
            w.difference,
            match (w.champion_in_training, w.challenger_in_training) {
                (true, true) => "both trained",
                (true, false) => "champion trained",
                (false, true) => "challenger trained",
                _ => "",
            }
        );
    }
    let verdict = match &report.out_of_time {
        Some(o) => format!(
            "Out of time ({} windows after both trainings): champion {:.4}, challenger {:.4}, baseline {}, difference <b>{:+.4}</b>; the challenger won {} of {} windows.",
            o.windows, o.champion, o.challenger, o.baseline.map_or("–".into(), |b| format!("{b:.4}")), o.difference, o.challenger_wins, o.windows
        ),
        None => "No window lies after both training windows: no out-of-time verdict.".into(),
    };
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest: {champion} vs {challenger}</title>
<style>
body {{ margin: 0; padding: 28px 32px; background: #0f172a; color: #e2e8f0; font-family: system-ui, sans-serif; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }} h2 {{ font-size: 13px; text-transform: uppercase; letter-spacing: .08em; color: #94a3b8; margin: 0 0 10px; }}
.sub {{ color: #94a3b8; margin: 0 0 20px; }} .card {{ background: #111c33; border: 1px solid #233250; border-radius: 14px; padding: 18px 20px; margin-bottom: 18px; }}
svg {{ width: 100%; height: auto; font-size: 11px; fill: #94a3b8; }} table {{ width: 100%; border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }}
td, th {{ padding: 5px 8px; border-bottom: 1px solid #233250; text-align: right; }} td:first-child, th:first-child, td:last-child, th:last-child {{ text-align: left; }}
th {{ color: #94a3b8; font-weight: 500; }} .up {{ color: #34d399; }} .down {{ color: #f87171; }} .key span {{ margin-right: 18px; }} .key i {{ display: inline-block; width: 14px; height: 4px; margin-right: 6px; vertical-align: middle; }}
</style></head><body>
<h1>Backtest: {champion} vs {challenger}</h1>
<p class="sub">{metric:?} per {window:?} over {rows} rows · {verdict}</p>
<div class="card"><h2>{metric:?} per window</h2>
<p class="key"><span><i style="background:#38bdf8"></i>champion {champion}</span><span><i style="background:#f472b6"></i>challenger {challenger}</span><span><i style="background:#94a3b8"></i>baseline (previous window's majority class / last value)</span><span>shaded: a model's training window</span></p>
{svg}</div>
<div class="card"><h2>Challenger − champion</h2>{bars}</div>
<div class="card"><h2>Windows</h2><table><tr><th>window</th><th>rows</th><th>champion</th><th>challenger</th><th>baseline</th><th>difference</th><th>note</th></tr>{table}</table></div>
</body></html>
"##,
        champion = report.champion,
        challenger = report.challenger,
        metric = report.metric,
        window = report.window,
        rows = report.rows,
    )
}

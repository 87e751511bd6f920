//! `bench OLD NEW`: latency of two bundles per row and per batch, natively and in headless
//! chromium, side by side, as NEW/OLD ratios; the verdict fails when NEW is slower than the
//! tolerance allows in any setting.
//!
//! Both versions are timed in interleaved blocks (old, new, old, new, …) and each figure is the
//! median of the block means, so a slow moment of a shared machine hits both alike.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use wasm_predict::Predictor;

use super::verify::load;
use super::{browser_bench, median};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    /// The old bundle folder.
    pub old: PathBuf,
    /// The new bundle folder.
    pub new: PathBuf,
    /// Rows per batch.
    pub batch: usize,
    /// Timed blocks per version (after one warm-up block).
    pub blocks: usize,
    /// One-row predictions per block.
    pub per_block: usize,
    /// NEW may be this much slower (0.10 = 10%) before the verdict fails.
    pub tolerance: f64,
    /// Also measure in headless chromium.
    pub browser: Option<BrowserOptions>,
}

/// Where the browser side comes from.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The chromium binary.
    pub chromium: PathBuf,
    /// The built wasm package (wasm_predict.js and wasm_predict_bg.wasm).
    pub pkg: PathBuf,
    /// How long the page may take.
    pub timeout: Duration,
}

/// One version's latency, microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Latency {
    /// One row per call.
    pub row_us: f64,
    /// One call of `batch` rows.
    pub batch_us: f64,
}

/// Both versions in one setting, and NEW/OLD.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// The old version.
    pub old: Latency,
    /// The new version.
    pub new: Latency,
    /// NEW/OLD per row (above 1: NEW is slower).
    pub row_ratio: f64,
    /// NEW/OLD per batch.
    pub batch_ratio: f64,
}

impl Comparison {
    /// Compares two measurements.
    pub fn of(old: Latency, new: Latency) -> Comparison {
        let ratio = |n: f64, o: f64| if o > 0.0 { n / o } else { f64::INFINITY };
        Comparison {
            row_ratio: ratio(new.row_us, old.row_us),
            batch_ratio: ratio(new.batch_us, old.batch_us),
            old,
            new,
        }
    }
}

/// The browser side of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserSide {
    /// The browser's user agent.
    pub browser: String,
    /// The figures.
    pub latency: Comparison,
}

/// What `bench` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// name@version of the old bundle.
    pub old: String,
    /// name@version of the new bundle.
    pub new: String,
    /// The machine.
    pub machine: String,
    /// Rows per batch.
    pub batch: usize,
    /// Blocks per version.
    pub blocks: usize,
    /// Native, this binary.
    pub native: Comparison,
    /// Headless chromium, the wasm package.
    pub browser: Option<BrowserSide>,
    /// The tolerance.
    pub tolerance: f64,
    /// Settings where NEW is slower than the tolerance allows.
    pub slower: Vec<String>,
    /// No setting is.
    pub passed: bool,
}

/// The rows both versions are timed on: the new bundle's holdout inputs, cycled to `count`.
fn rows_for(old: &Predictor, new: &Predictor) -> Result<Vec<Vec<f32>>> {
    let width = |p: &Predictor| p.manifest().feature_count();
    if width(old) != width(new) {
        bail!(
            "the two versions take different inputs ({} and {} features): nothing to compare",
            width(old),
            width(new)
        );
    }
    let rows = new.manifest().performance.holdout.inputs.clone();
    if rows.is_empty() {
        bail!("the new bundle's holdout has no rows to time");
    }
    Ok(rows)
}

fn time_block(mut f: impl FnMut(usize) -> Result<()>, calls: usize) -> Result<f64> {
    let start = Instant::now();
    for i in 0..calls {
        f(i)?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / calls.max(1) as f64)
}

/// Native latency of both versions, interleaved.
fn native(old: &mut Predictor, new: &mut Predictor, rows: &[Vec<f32>], request: &BenchRequest) -> Result<Comparison> {
    let batch: Vec<f32> = rows.iter().cycle().take(request.batch).flatten().copied().collect();
    let batch_calls = (request.per_block / request.batch.max(1)).clamp(2, 20);
    let mut figures = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for block in 0..=request.blocks {
        for (p, (row_times, batch_times)) in [&mut *old, &mut *new].into_iter().zip(figures.iter_mut()) {
            let row_us = time_block(
                |i| p.predict(&rows[i % rows.len()]).map(drop).map_err(|e| anyhow!("{e}")),
                request.per_block,
            )?;
            let batch_us = time_block(
                |_| {
                    p.predict_batch(&batch, request.batch)
                        .map(drop)
                        .map_err(|e| anyhow!("{e}"))
                },
                batch_calls,
            )?;
            // Block 0 warms caches and plans up.
            if block > 0 {
                row_times.push(row_us);
                batch_times.push(batch_us);
            }
        }
    }
    let [(o_rows, o_batches), (n_rows, n_batches)] = figures;
    Ok(Comparison::of(
        Latency {
            row_us: median(o_rows),
            batch_us: median(o_batches),
        },
        Latency {
            row_us: median(n_rows),
            batch_us: median(n_batches),
        },
    ))
}

/// The machine, for the record: CPU model, cores, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")
                .map(|r| r.trim().trim_end_matches(" kB").parse::<f64>().ok())
        })
        .flatten()
        .map(|kb| format!(", {:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} × {model}{memory}, {}", std::env::consts::OS)
}

fn identity(dir: &Path, p: &Predictor) -> String {
    let m = p.manifest();
    format!("{}@{} ({})", m.name, m.version, dir.display())
}

/// Measures both versions natively, then in chromium if asked.
pub fn bench(request: &BenchRequest) -> Result<BenchReport> {
    let (mut old, mut new) = (load(&request.old)?, load(&request.new)?);
    let rows = rows_for(&old, &new)?;
    let native = native(&mut old, &mut new, &rows, request)?;
    let browser = match &request.browser {
        Some(options) => {
            let bundles = [
                browser_bench::BrowserBundle::read(&request.old)?,
                browser_bench::BrowserBundle::read(&request.new)?,
            ];
            Some(browser_bench::run(options, bundles, request)?)
        }
        None => None,
    };
    let limit = 1.0 + request.tolerance;
    let mut slower = Vec::new();
    let settings = std::iter::once(("native", &native)).chain(browser.as_ref().map(|b| ("chromium", &b.latency)));
    for (setting, c) in settings {
        if c.row_ratio > limit {
            slower.push(format!("{setting} per row: {:.2}x", c.row_ratio));
        }
        if c.batch_ratio > limit {
            slower.push(format!("{setting} per batch: {:.2}x", c.batch_ratio));
        }
    }
    Ok(BenchReport {
        old: identity(&request.old, &old),
        new: identity(&request.new, &new),
        machine: machine(),
        batch: request.batch,
        blocks: request.blocks,
        native,
        browser,
        tolerance: request.tolerance,
        passed: slower.is_empty(),
        slower,
    })
}

/// The report as a table.
pub fn render(r: &BenchReport) -> String {
    let mut out = format!(
        "old {}\nnew {}\n{}; median of {} interleaved blocks\n\n",
        r.old, r.new, r.machine, r.blocks
    );
    out += &format!(
        "{:<10} {:>14} {:>14} {:>9}   {:>16} {:>16} {:>9}\n",
        "",
        "old µs/row",
        "new µs/row",
        "new/old",
        format!("old µs/{}-batch", r.batch),
        format!("new µs/{}-batch", r.batch),
        "new/old"
    );
    let line = |name: &str, c: &Comparison| {
        format!(
            "{name:<10} {:>14.1} {:>14.1} {:>8.2}x   {:>16.1} {:>16.1} {:>8.2}x\n",
            c.old.row_us, c.new.row_us, c.row_ratio, c.old.batch_us, c.new.batch_us, c.batch_ratio
        )
    };
    out += &line("native", &r.native);
    match &r.browser {
        Some(b) => {
            out += &line("chromium", &b.latency);
            out += &format!("           ({})\n", b.browser);
        }
        None => out += "chromium   not measured (--native-only)\n",
    }
    out += &if r.passed {
        format!(
            "\npassed: the new version is within {:.0}% of the old everywhere\n",
            r.tolerance * 100.0
        )
    } else {
        format!(
            "\nslower: {} (tolerance {:.0}%)\n",
            r.slower.join("; "),
            r.tolerance * 100.0
        )
    };
    out
}

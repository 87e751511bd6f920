//! `quantize`: int8 quantization with an accuracy budget. Calibrates the float model on sample
//! rows, rewrites it (see [`int8`](super::int8)), then runs both models through the predictor
//! the browser runs and refuses the int8 one if its metric drops by more than the budget.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use serde::Serialize;
use wasm_predict::Predictor;
use wasm_predict_manifest::{Metric, Task};

use super::bundle::{draft_manifest, model_from_bytes, read_model, ModelDraft};
use super::dataset::{read_table, Columns, Dataset, Table};
use super::evaluate;
use super::int8::{self, QuantizedActivation, QuantizedWeight};
use super::median;

/// What to quantize and how strictly.
#[derive(Debug, Clone)]
pub struct QuantizeRequest {
    /// The float ONNX model.
    pub model: PathBuf,
    /// Rows to calibrate the activation ranges on (CSV or Parquet).
    pub calibration: PathBuf,
    /// Labelled rows to compare the two models on (default: the calibration rows).
    pub data: Option<PathBuf>,
    /// Columns of both files (the target is needed in the evaluation data only).
    pub columns: Columns,
    /// Force the task (default: read from the graph).
    pub task: Option<Task>,
    /// Quantize activations too (static quantization); otherwise weights only.
    pub activations: bool,
    /// Calibration rows used, at most.
    pub calibration_rows: usize,
    /// Largest drop of the metric allowed (0.005 = half a point of accuracy).
    pub max_drop: f64,
    /// Where to write the int8 model.
    pub out: PathBuf,
    /// Replace `out` if it exists.
    pub force: bool,
}

/// Before and after.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Change<T> {
    /// The float model.
    pub float: T,
    /// The int8 model.
    pub int8: T,
}

/// What `quantize` reports.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizeReport {
    /// The float model.
    pub model: String,
    /// The int8 model, when written (only if accepted).
    pub written: Option<String>,
    /// Weights made int8.
    pub weights: Vec<QuantizedWeight>,
    /// Activations quantized from calibration.
    pub activations: Vec<QuantizedActivation>,
    /// Calibration rows used.
    pub calibration_rows: usize,
    /// File size in bytes.
    pub size: Change<usize>,
    /// The metric compared.
    pub metric: Metric,
    /// The rows it was measured on.
    pub evaluated_on: String,
    /// How many.
    pub rows: usize,
    /// Metric of each model.
    pub score: Change<f64>,
    /// float − int8 (positive is worse).
    pub drop: f64,
    /// The budget.
    pub max_drop: f64,
    /// Share of rows where both give the same label (classification).
    pub agreement: Option<f64>,
    /// Largest output difference between the two.
    pub max_abs_diff: f32,
    /// Median latency of one-row predictions, microseconds (native, this machine).
    pub latency_us: Change<f64>,
    /// Accepted within the budget.
    pub accepted: bool,
}

/// One-row predictions timed per model; the two run alternately so a busy neighbour slows both.
const LATENCY_ROWS: usize = 200;

/// The calibration rows of `table`: the evaluation columns, less a target the file may not have.
fn calibration_rows(table: &Table, request: &QuantizeRequest, task: Task) -> Result<Dataset> {
    let mut columns = request.columns.clone();
    if let Some(target) = &columns.target {
        if !table.columns.contains(target) {
            columns.target = None;
        }
    }
    let mut data = table.dataset(&columns, task)?;
    if data.inputs.is_empty() {
        bail!("{}: no rows to calibrate on", data.source);
    }
    data.inputs.truncate(request.calibration_rows.max(1));
    Ok(data)
}

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

/// Quantizes, evaluates, and writes the int8 model if it keeps within the budget.
pub fn quantize(request: &QuantizeRequest) -> Result<QuantizeReport> {
    let float = read_model(&request.model, request.task)?;
    let label = request.model.display().to_string();
    let calibration_table = read_table(&request.calibration)?;
    let calibration = calibration_rows(&calibration_table, request, float.task)?;
    let row_shape: Vec<usize> = float.interface.row_shape.iter().map(|&d| d as usize).collect();
    calibration.check_width(row_shape.iter().product())?;

    let mut proto = float.proto.clone();
    let ranges = if request.activations {
        let graph = proto.graph.as_ref().ok_or_else(|| anyhow!("{label}: no graph"))?;
        let names: Vec<String> = int8::targets(graph)
            .into_iter()
            .map(|t| t.activation)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        measured_ranges(&float, &row_shape, &calibration, &names)?
    } else {
        BTreeMap::new()
    };
    let rewrite = int8::quantize(&mut proto, &ranges).with_context(|| label.clone())?;
    let bytes = proto.encode_to_vec();
    let quantized = model_from_bytes(bytes, "the int8 model", Some(float.task))?;

    let data = match &request.data {
        Some(path) => read_table(path)?.dataset(&request.columns, float.task)?,
        None => calibration_table.dataset(&request.columns, float.task)?,
    };
    let targets = data.require_targets()?.to_vec();
    // One manifest serves both: the rewrite keeps the interface, and neither is checked by hash.
    let manifest = draft_manifest(&float, "quantize", "0.0.0", &data)?;
    let mut before = Predictor::from_model(manifest.clone(), &float.bytes).map_err(|e| anyhow!("{label}: {e}"))?;
    let mut after = Predictor::from_model(manifest, &quantized.bytes).map_err(|e| anyhow!("the int8 model: {e}"))?;
    let metric = before.manifest().performance.metric;
    let (a, b) = (
        evaluate::run(&mut before, &data.inputs)?,
        evaluate::run(&mut after, &data.inputs)?,
    );
    let score = Change {
        float: evaluate::score(metric, &a, &targets).unwrap_or(0.0),
        int8: evaluate::score(metric, &b, &targets).unwrap_or(0.0),
    };
    let agreement = (float.task == Task::Classification && !a.labels.is_empty())
        .then(|| a.labels.iter().zip(&b.labels).filter(|(x, y)| x == y).count() as f64 / a.labels.len() as f64);
    let max_abs_diff = a
        .values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let (float_us, int8_us) = latencies(&mut before, &mut after, &data.inputs)?;
    let drop = score.float - score.int8;
    let accepted = drop <= request.max_drop + 1e-12;
    let written = if accepted {
        if request.out.exists() && !request.force {
            bail!("{} exists; pass --force to replace it", request.out.display());
        }
        if let Some(dir) = request.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&request.out, &quantized.bytes).with_context(|| format!("writing {}", request.out.display()))?;
        Some(request.out.display().to_string())
    } else {
        None
    };
    Ok(QuantizeReport {
        model: label,
        written,
        weights: rewrite.weights,
        activations: rewrite.activations,
        calibration_rows: calibration.inputs.len(),
        size: Change {
            float: float.bytes.len(),
            int8: quantized.bytes.len(),
        },
        metric,
        evaluated_on: data.source.clone(),
        rows: data.inputs.len(),
        score,
        drop,
        max_drop: request.max_drop,
        agreement,
        max_abs_diff,
        latency_us: Change {
            float: float_us,
            int8: int8_us,
        },
        accepted,
    })
}

/// The range of each named tensor on the calibration rows; a graph input's range is read from
/// the rows themselves.
fn measured_ranges(
    model: &ModelDraft,
    row_shape: &[usize],
    calibration: &Dataset,
    names: &[String],
) -> Result<BTreeMap<String, (f32, f32)>> {
    let flat = calibration.flat();
    let (inputs, inner): (Vec<String>, Vec<String>) = names.iter().cloned().partition(|n| *n == model.interface.input);
    let mut ranges: BTreeMap<String, (f32, f32)> = BTreeMap::new();
    if !inner.is_empty() {
        let found = wasm_predict::calibrate::tensor_ranges(&model.bytes, row_shape, &flat, &inner)
            .map_err(|e| anyhow!("{}: {e}", calibration.source))?;
        ranges.extend(inner.into_iter().zip(found));
    }
    for name in inputs {
        let lo = flat.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = flat.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        ranges.insert(name, (lo, hi));
    }
    Ok(ranges)
}

/// The report as text.
pub fn render(r: &QuantizeReport) -> String {
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let metric = match r.metric {
        Metric::Accuracy => "accuracy",
        Metric::R2 => "r2",
    };
    let mut out = format!(
        "{}: {} weights int8 ({} per-channel), {} activations from {} calibration rows\n",
        r.model,
        r.weights.len(),
        r.weights.iter().filter(|w| w.per_channel).count(),
        r.activations.len(),
        r.calibration_rows
    );
    out += &format!(
        "  size     {:>9} B  →  {:>9} B  ({:.2}x smaller)\n",
        r.size.float,
        r.size.int8,
        r.size.float as f64 / r.size.int8.max(1) as f64
    );
    out += &format!(
        "  {metric:<8} {:>11}  →  {:>11}  (drop {}, budget {}) on {} rows of {}\n",
        format!("{:.4}", r.score.float),
        format!("{:.4}", r.score.int8),
        pct(r.drop),
        pct(r.max_drop),
        r.rows,
        r.evaluated_on
    );
    if let Some(a) = r.agreement {
        out += &format!(
            "  same label on {} of rows; largest output difference {:.4}\n",
            pct(a),
            r.max_abs_diff
        );
    } else {
        out += &format!("  largest output difference {:.4}\n", r.max_abs_diff);
    }
    out += &format!(
        "  latency  {:>9.1} µs  →  {:>9.1} µs per row (native, median of {LATENCY_ROWS})\n",
        r.latency_us.float, r.latency_us.int8
    );
    out += &match &r.written {
        Some(path) => format!("accepted: wrote {path}\n"),
        None => format!(
            "refused: the {metric} drops by {}, more than the budget of {}; nothing written\n",
            pct(r.drop),
            pct(r.max_drop)
        ),
    };
    out
}

/// Reads a budget given as `0.5%` or as a fraction (`0.005`).
pub fn parse_budget(text: &str) -> Result<f64> {
    let value = super::parse_share(text).ok_or_else(|| anyhow!("`{text}` is not a budget (say 0.5% or 0.005)"))?;
    if !(0.0..=1.0).contains(&value) {
        bail!("`{text}`: the budget is between 0% and 100%");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::parse_budget;

    #[test]
    fn budgets_in_percent_or_fraction() {
        assert!((parse_budget("0.5%").unwrap() - 0.005).abs() < 1e-12);
        assert!((parse_budget("0.005").unwrap() - 0.005).abs() < 1e-12);
        assert!(parse_budget("half").is_err());
        assert!(parse_budget("150%").is_err());
        assert!(parse_budget("-1%").is_err());
    }
}

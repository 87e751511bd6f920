//! `quantize`: int8 quantization with an accuracy budget. Calibrates the float model on sample
//! rows, rewrites it (see [`int8`](super::int8)), then runs both models through the predictor
//! the browser runs and refuses the int8 one if its metric drops by more than the budget.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use serde::Serialize;
use wasm_predict_manifest::Task;

use super::budget::{self, Change, Evaluation, Sides};
use super::bundle::{model_from_bytes, read_model, ModelDraft};
use super::dataset::{read_table, Columns, Dataset, Table};
use super::int8::{self, QuantizedActivation, QuantizedWeight};

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

/// The two models of `quantize`: `float` and `int8` in reports and JSON.
#[derive(Debug, Clone, Copy)]
pub struct Int8;

impl Sides for Int8 {
    const BEFORE: &'static str = "float";
    const AFTER: &'static str = "int8";
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
    pub size: Change<usize, Int8>,
    /// Both models on the evaluation rows, and the verdict.
    #[serde(flatten)]
    pub evaluation: Evaluation<Int8>,
}

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

/// Quantizes, evaluates, and writes the int8 model if it keeps within the budget.
pub fn quantize(request: &QuantizeRequest) -> Result<QuantizeReport> {
    budget::check_out(&request.out, request.force)?;
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
    let evaluation = budget::evaluate(&float, &label, &quantized, &data, request.max_drop)?;
    let written = budget::write_accepted(&evaluation, &request.out, &quantized.bytes, request.force)?;
    Ok(QuantizeReport {
        model: label,
        written,
        weights: rewrite.weights,
        activations: rewrite.activations,
        calibration_rows: calibration.inputs.len(),
        size: Change::new(float.bytes.len(), quantized.bytes.len()),
        evaluation,
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
        r.size.before,
        r.size.after,
        r.size.before as f64 / r.size.after.max(1) as f64
    );
    out + &budget::render(&r.evaluation, r.written.as_deref())
}

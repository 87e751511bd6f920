//! `prune`: magnitude pruning with an accuracy budget. Zeros the smallest weights (by absolute
//! value) of every `MatMul`, `Gemm` and `Conv` whose weight is a float initializer, each layer to
//! the sparsity asked or under one threshold for all, then runs both models through the predictor
//! the browser runs and refuses the pruned one if its metric drops by more than the budget.
//!
//! Zeros do not make the file smaller (a float is four bytes, zero or not) nor, with dense
//! kernels, faster: they make it compress, which is what a page downloads.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use serde::Serialize;
use tract_onnx::pb::{ModelProto, TensorProto};
use wasm_predict_manifest::Task;

use super::budget::{self, percent, Change, Evaluation, Sides};
use super::bundle::{model_from_bytes, read_model};
use super::dataset::{read_table, Columns};
use super::graph::is_int8_op;
use super::int8::{float_values, targets};

/// Which weights compete for the zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Each layer loses its own smallest weights, to the sparsity asked.
    Layer,
    /// One threshold across all layers: the smallest weights of the whole model go, but no layer
    /// loses more than the per-layer limit.
    Global,
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "layer" => Ok(Scope::Layer),
            "global" => Ok(Scope::Global),
            _ => Err(format!("`{text}` is not a scope: layer or global")),
        }
    }
}

/// What to prune and how strictly.
#[derive(Debug, Clone)]
pub struct PruneRequest {
    /// The float ONNX model.
    pub model: PathBuf,
    /// Labelled rows to compare the two models on (CSV or Parquet).
    pub data: PathBuf,
    /// Its columns.
    pub columns: Columns,
    /// Force the task (default: read from the graph).
    pub task: Option<Task>,
    /// Share of the weights to zero (0.5 = half).
    pub sparsity: f64,
    /// Per layer, or across layers.
    pub scope: Scope,
    /// In global scope, the largest share of any one layer zeroed.
    pub max_layer_sparsity: f64,
    /// Layers with fewer weights than this stay dense.
    pub min_layer_weights: usize,
    /// Largest drop of the metric allowed (0.005 = half a point of accuracy).
    pub max_drop: f64,
    /// Where to write the pruned model.
    pub out: PathBuf,
    /// Replace `out` if it exists.
    pub force: bool,
}

/// The two models of `prune`: `dense` and `pruned` in reports and JSON.
#[derive(Debug, Clone, Copy)]
pub struct Pruned;

impl Sides for Pruned {
    const BEFORE: &'static str = "dense";
    const AFTER: &'static str = "pruned";
}

/// One weight tensor of a `MatMul`, `Gemm` or `Conv`, and what pruning did to it.
#[derive(Debug, Clone, Serialize)]
pub struct PrunedLayer {
    /// The initializer's name.
    pub weight: String,
    /// The node that reads it (its name, or its output when unnamed).
    pub node: String,
    /// `MatMul`, `Gemm` or `Conv`.
    pub op: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Its number of weights.
    pub weights: usize,
    /// Zeros it held already.
    pub zeros_before: usize,
    /// Zeros it holds now.
    pub zeros: usize,
    /// `zeros / weights`.
    pub sparsity: f64,
    /// False when the layer was left dense (fewer weights than the minimum).
    pub pruned: bool,
}

/// What `prune` reports.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// The dense model.
    pub model: String,
    /// The pruned model, when written (only if accepted).
    pub written: Option<String>,
    /// Per layer, or across layers.
    pub scope: Scope,
    /// The sparsity asked.
    pub sparsity: f64,
    /// The per-layer limit (global scope).
    pub max_layer_sparsity: Option<f64>,
    /// Layers with fewer weights stay dense.
    pub min_layer_weights: usize,
    /// Zeros over weights, across the pruned layers.
    pub achieved_sparsity: f64,
    /// Every weight of a `MatMul`, `Gemm` or `Conv`, pruned or left dense.
    pub layers: Vec<PrunedLayer>,
    /// File size in bytes.
    pub size: Change<usize, Pruned>,
    /// File size gzipped (level 9), what a page downloads from a server that compresses.
    pub gzip: Change<usize, Pruned>,
    /// Both models on the evaluation rows, and the verdict.
    #[serde(flatten)]
    pub evaluation: Evaluation<Pruned>,
}

/// Prunes, evaluates, and writes the pruned model if it keeps within the budget.
pub fn prune(request: &PruneRequest) -> Result<PruneReport> {
    budget::check_out(&request.out, request.force)?;
    if request.scope == Scope::Global && request.sparsity > request.max_layer_sparsity {
        bail!(
            "--sparsity {} is more than --max-layer-sparsity {}: in global scope no layer loses more than that, \
             so the model as a whole cannot reach {}",
            percent(request.sparsity),
            percent(request.max_layer_sparsity),
            percent(request.sparsity)
        );
    }
    let dense = read_model(&request.model, request.task)?;
    let label = request.model.display().to_string();
    let data = read_table(&request.data)?.dataset(&request.columns, dense.task)?;
    let mut proto = dense.proto.clone();
    let layers = prune_weights(&mut proto, request).with_context(|| label.clone())?;
    let pruned = model_from_bytes(proto.encode_to_vec(), "the pruned model", Some(dense.task))?;

    let evaluation = budget::evaluate(&dense, &label, &pruned, &data, request.max_drop)?;
    let written = budget::write_accepted(&evaluation, &request.out, &pruned.bytes, request.force)?;
    let (weights, zeros) = layers
        .iter()
        .filter(|l| l.pruned)
        .fold((0, 0), |(w, z), l| (w + l.weights, z + l.zeros));
    Ok(PruneReport {
        model: label,
        written,
        scope: request.scope,
        sparsity: request.sparsity,
        max_layer_sparsity: (request.scope == Scope::Global).then_some(request.max_layer_sparsity),
        min_layer_weights: request.min_layer_weights,
        achieved_sparsity: zeros as f64 / weights.max(1) as f64,
        layers,
        size: Change::new(dense.bytes.len(), pruned.bytes.len()),
        gzip: Change::new(gzipped(&dense.bytes)?, gzipped(&pruned.bytes)?),
        evaluation,
    })
}

/// Size of `bytes` gzipped at level 9.
pub fn gzipped(bytes: &[u8]) -> Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

/// Zeros the smallest weights of `model`'s `MatMul`, `Gemm` and `Conv` layers in place, as
/// `request` says; every such layer, pruned or not.
pub fn prune_weights(model: &mut ModelProto, request: &PruneRequest) -> Result<Vec<PrunedLayer>> {
    let graph = model.graph.as_mut().ok_or_else(|| anyhow!("no graph"))?;
    let quantized: Vec<&str> = graph
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .filter(|op| is_int8_op(op))
        .collect();
    if let Some(op) = quantized.first() {
        bail!(
            "the model is already quantized (it has {} {op} nodes): pruning works on float weights; \
             prune the float model, then quantize the pruned one",
            quantized.iter().filter(|o| *o == op).count()
        );
    }
    let mut seen = HashSet::new();
    let found: Vec<_> = targets(graph)
        .into_iter()
        .filter(|t| seen.insert(t.weight.clone()))
        .collect();
    if found.is_empty() {
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        bail!(
            "nothing to prune: no MatMul, Gemm or Conv with a float weight in the file (ops: {})",
            ops.join(", ")
        );
    }
    let mut layers = Vec::new();
    let mut values = Vec::new();
    for target in &found {
        let tensor = initializer(&graph.initializer, &target.weight)?;
        let weights = float_values(tensor)?;
        let node = &graph.node[target.node];
        layers.push(PrunedLayer {
            weight: target.weight.clone(),
            node: if node.name.is_empty() {
                node.output.first().cloned().unwrap_or_default()
            } else {
                node.name.clone()
            },
            op: target.op.clone(),
            shape: tensor.dims.clone(),
            weights: weights.len(),
            zeros_before: zeros(&weights),
            zeros: 0,
            sparsity: 0.0,
            pruned: weights.len() >= request.min_layer_weights,
        });
        values.push(weights);
    }
    if !layers.iter().any(|l| l.pruned) {
        let sizes: Vec<String> = layers.iter().map(|l| format!("{} ({})", l.weight, l.weights)).collect();
        bail!(
            "nothing to prune: every MatMul, Gemm or Conv weight has fewer than {} weights (--min-layer-weights): {}",
            request.min_layer_weights,
            sizes.join(", ")
        );
    }
    let prunable: Vec<&[f32]> = layers
        .iter()
        .zip(&values)
        .filter(|(l, _)| l.pruned)
        .map(|(_, v)| v.as_slice())
        .collect();
    let counts = match request.scope {
        Scope::Layer => prunable.iter().map(|v| share_of(v.len(), request.sparsity)).collect(),
        Scope::Global => global_counts(&prunable, request.sparsity, request.max_layer_sparsity),
    };
    let mut counts = counts.into_iter();
    for (layer, weights) in layers.iter_mut().zip(&mut values) {
        if layer.pruned {
            zero_smallest(weights, counts.next().unwrap_or(0));
            let tensor = graph
                .initializer
                .iter_mut()
                .find(|t| t.name == layer.weight)
                .ok_or_else(|| anyhow!("no initializer `{}`", layer.weight))?;
            set_float_values(tensor, weights);
        }
        layer.zeros = zeros(weights);
        layer.sparsity = layer.zeros as f64 / layer.weights.max(1) as f64;
    }
    Ok(layers)
}

fn initializer<'a>(initializers: &'a [TensorProto], name: &str) -> Result<&'a TensorProto> {
    initializers
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| anyhow!("no initializer `{name}`"))
}

/// Writes `values` back where the tensor held them (`float_data`, or `raw_data`).
fn set_float_values(tensor: &mut TensorProto, values: &[f32]) {
    if tensor.float_data.is_empty() {
        tensor.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    } else {
        tensor.float_data = values.to_vec();
    }
}

fn zeros(values: &[f32]) -> usize {
    values.iter().filter(|v| **v == 0.0).count()
}

/// `share` of `count`, rounded to the nearest whole weight.
fn share_of(count: usize, share: f64) -> usize {
    ((count as f64 * share).round() as usize).min(count)
}

/// Zeros the `count` weights of smallest magnitude; ties go in order of position, so exactly
/// `count` weights are zero or were already (zeros are the smallest of all).
pub fn zero_smallest(values: &mut [f32], count: usize) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
    for &i in order.iter().take(count) {
        values[i] = 0.0;
    }
}

/// How many weights each layer loses in global scope: the `sparsity` share of all weights, the
/// smallest magnitudes first (ties by layer, then position), no layer past `max_layer_sparsity`
/// of its own weights (the next smallest elsewhere is taken instead).
pub fn global_counts(layers: &[&[f32]], sparsity: f64, max_layer_sparsity: f64) -> Vec<usize> {
    let total: usize = layers.iter().map(|l| l.len()).sum();
    let mut wanted = share_of(total, sparsity);
    let caps: Vec<usize> = layers
        .iter()
        .map(|l| ((l.len() as f64 * max_layer_sparsity) + 1e-9).floor() as usize)
        .collect();
    let mut all: Vec<(f32, usize)> = layers
        .iter()
        .enumerate()
        .flat_map(|(layer, values)| values.iter().map(move |v| (v.abs(), layer)))
        .collect();
    // A stable sort: equal magnitudes stay in layer order, then position.
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut counts = vec![0; layers.len()];
    for (_, layer) in all {
        if wanted == 0 {
            break;
        }
        if counts[layer] < caps[layer] {
            counts[layer] += 1;
            wanted -= 1;
        }
    }
    counts
}

/// Reads a sparsity given as `50%` or as a fraction (`0.5`).
pub fn parse_sparsity(text: &str) -> Result<f64> {
    super::parse_fraction(text, "a sparsity", "50% or 0.5")
}

/// The report as text.
pub fn render(r: &PruneReport) -> String {
    let pruned = r.layers.iter().filter(|l| l.pruned).count();
    let scope = match r.max_layer_sparsity {
        Some(cap) => format!("global scope, at most {} of a layer", percent(cap)),
        None => "layer scope".into(),
    };
    let mut out = format!(
        "{}: {pruned} of {} layers pruned ({scope}): {} asked, {} reached\n",
        r.model,
        r.layers.len(),
        percent(r.sparsity),
        percent(r.achieved_sparsity)
    );
    let width = r.layers.iter().map(|l| l.weight.len()).max().unwrap_or(0).max(6);
    out += &format!(
        "  {:<width$}  {:<7} {:<12} {:>9} {:>13} {:>9}\n",
        "weight", "op", "shape", "weights", "zeros before", "sparsity"
    );
    for l in &r.layers {
        let shape: Vec<String> = l.shape.iter().map(i64::to_string).collect();
        let note = if l.pruned {
            String::new()
        } else {
            format!("  left dense: fewer than {} weights", r.min_layer_weights)
        };
        out += &format!(
            "  {:<width$}  {:<7} {:<12} {:>9} {:>13} {:>9}{note}\n",
            l.weight,
            l.op,
            shape.join("×"),
            l.weights,
            percent(l.zeros_before as f64 / l.weights.max(1) as f64),
            percent(l.sparsity)
        );
    }
    out += &format!("  size     {:>9} B  →  {:>9} B\n", r.size.before, r.size.after);
    out += &format!(
        "  gzipped  {:>9} B  →  {:>9} B  ({:.2}x smaller)\n",
        r.gzip.before,
        r.gzip.after,
        r.gzip.before as f64 / r.gzip.after.max(1) as f64
    );
    out + &budget::render(&r.evaluation, r.written.as_deref())
}

#[cfg(test)]
mod tests {
    use super::{global_counts, parse_sparsity, prune_weights, zero_smallest, PruneRequest, Scope};
    use tract_onnx::pb::tensor_proto::DataType;
    use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..NodeProto::default()
        }
    }

    fn floats(name: &str, dims: Vec<i64>, values: &[f32], raw: bool) -> TensorProto {
        TensorProto {
            name: name.into(),
            data_type: DataType::Float as i32,
            dims,
            float_data: if raw { vec![] } else { values.to_vec() },
            raw_data: if raw {
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                vec![]
            },
            ..TensorProto::default()
        }
    }

    /// `X → MatMul(w, raw bytes) → Gemm(v, float_data, bias b) → Relu`.
    fn three_nodes() -> ModelProto {
        ModelProto {
            graph: Some(GraphProto {
                node: vec![
                    node("MatMul", &["X", "w"], "h"),
                    node("Gemm", &["h", "v", "b"], "g"),
                    node("Relu", &["g"], "y"),
                ],
                initializer: vec![
                    floats("w", vec![2, 2], &[0.1, -0.4, 0.3, -0.2], true),
                    floats("v", vec![2, 3], &[0.6, -0.5, 0.01, 0.02, 0.7, -0.03], false),
                    floats("b", vec![3], &[0.001, 0.002, 0.003], false),
                ],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
    }

    fn request(scope: Scope, min_layer_weights: usize) -> PruneRequest {
        PruneRequest {
            model: "m.onnx".into(),
            data: "d.csv".into(),
            columns: Default::default(),
            task: None,
            sparsity: 0.5,
            scope,
            max_layer_sparsity: 1.0,
            min_layer_weights,
            max_drop: 0.0,
            out: "o.onnx".into(),
            force: false,
        }
    }

    #[test]
    fn weights_are_pruned_where_they_are_stored_and_biases_are_not() {
        let mut model = three_nodes();
        let layers = prune_weights(&mut model, &request(Scope::Layer, 1)).unwrap();
        let summary: Vec<(&str, &str, usize, bool)> = layers
            .iter()
            .map(|l| (l.weight.as_str(), l.op.as_str(), l.zeros, l.pruned))
            .collect();
        assert_eq!(summary, [("w", "MatMul", 2, true), ("v", "Gemm", 3, true)]);
        let graph = model.graph.unwrap();
        let w: Vec<f32> = graph.initializer[0]
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(w, [0.0, -0.4, 0.3, 0.0]);
        assert!(graph.initializer[1].raw_data.is_empty());
        assert_eq!(graph.initializer[1].float_data, [0.6, -0.5, 0.0, 0.0, 0.7, 0.0]);
        assert_eq!(graph.initializer[2].float_data, [0.001, 0.002, 0.003]);
    }

    #[test]
    fn small_layers_stay_dense_and_global_scope_shares_one_threshold() {
        let mut model = three_nodes();
        let layers = prune_weights(&mut model, &request(Scope::Global, 5)).unwrap();
        assert_eq!((layers[0].pruned, layers[0].zeros), (false, 0));
        assert_eq!((layers[1].pruned, layers[1].zeros), (true, 3));

        let mut model = three_nodes();
        let layers = prune_weights(&mut model, &request(Scope::Global, 1)).unwrap();
        // The five smallest of all ten: three of v (0.01, 0.02, 0.03), two of w (0.1, 0.2).
        assert_eq!((layers[0].zeros, layers[1].zeros), (2, 3));
        let error = prune_weights(&mut three_nodes(), &request(Scope::Layer, 7)).unwrap_err();
        assert!(error.to_string().contains("w (4), v (6)"), "{error}");
    }

    #[test]
    fn a_quantized_graph_is_refused() {
        let mut model = three_nodes();
        if let Some(graph) = model.graph.as_mut() {
            graph.node.insert(0, node("DequantizeLinear", &["wq", "s", "z"], "w2"));
        }
        let error = prune_weights(&mut model, &request(Scope::Layer, 1)).unwrap_err();
        assert!(
            error.to_string().starts_with("the model is already quantized"),
            "{error}"
        );
    }

    #[test]
    fn the_smallest_magnitudes_go_first_whatever_their_sign() {
        let mut values = [0.5, -0.1, 0.3, -0.7, 0.2, 0.0];
        zero_smallest(&mut values, 3);
        assert_eq!(values, [0.5, 0.0, 0.3, -0.7, 0.0, 0.0]);
    }

    #[test]
    fn ties_are_broken_by_position_so_the_count_is_exact() {
        let mut values = [0.2, -0.2, 0.2, 0.9, 0.2];
        zero_smallest(&mut values, 2);
        assert_eq!(values, [0.0, 0.0, 0.2, 0.9, 0.2]);
    }

    #[test]
    fn zeros_already_there_count_as_the_smallest() {
        let mut values = [0.0, 0.0, 0.0, 0.0];
        zero_smallest(&mut values, 2);
        assert_eq!(values, [0.0; 4]);
        let mut values = [0.4, 0.0, -0.3, 0.0];
        zero_smallest(&mut values, 2);
        assert_eq!(values, [0.4, 0.0, -0.3, 0.0]);
    }

    #[test]
    fn sparsity_zero_keeps_everything_and_one_zeros_everything() {
        let original = [0.5, -0.1, 0.3];
        let mut values = original;
        zero_smallest(&mut values, 0);
        assert_eq!(values, original);
        zero_smallest(&mut values, 3);
        assert_eq!(values, [0.0; 3]);
    }

    #[test]
    fn global_scope_takes_the_smallest_across_layers_within_each_layers_limit() {
        let small: &[f32] = &[0.01, -0.02, 0.03, 0.04];
        let large: &[f32] = &[1.0, -2.0, 3.0, 0.015];
        // Half of 8: the four smallest are three of `small` and one of `large`.
        assert_eq!(global_counts(&[small, large], 0.5, 1.0), vec![3, 1]);
        // At most half of a layer: `small` stops at 2, the next smallest of `large` makes up.
        assert_eq!(global_counts(&[small, large], 0.5, 0.5), vec![2, 2]);
        assert_eq!(global_counts(&[small, large], 0.0, 0.9), vec![0, 0]);
        assert_eq!(global_counts(&[small, large], 1.0, 1.0), vec![4, 4]);
        // Ties across layers go to the earlier layer.
        let zeros: &[f32] = &[0.0, 0.0];
        assert_eq!(global_counts(&[zeros, zeros], 0.5, 1.0), vec![2, 0]);
    }

    #[test]
    fn sparsities_in_percent_or_fraction() {
        assert!((parse_sparsity("50%").unwrap() - 0.5).abs() < 1e-12);
        assert!((parse_sparsity("0.7").unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(parse_sparsity("0%").unwrap(), 0.0);
        assert_eq!(parse_sparsity("100%").unwrap(), 1.0);
        let error = parse_sparsity("150%").unwrap_err().to_string();
        assert_eq!(error, "`150%`: a sparsity is between 0% and 100%");
        assert!(parse_sparsity("-5%").is_err());
        assert!(parse_sparsity("most").is_err());
    }
}

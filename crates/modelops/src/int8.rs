//! The int8 rewrite of an ONNX graph, in QDQ form (what onnxruntime's `quantize_static` writes
//! with `quant_format=QDQ`):
//! - weights: each float weight of a `MatMul`, `Gemm` or `Conv` becomes an int8 initializer
//!   (symmetric, zero point 0, range ±127, one scale per output channel from opset 13, one per
//!   tensor before) read through a `DequantizeLinear`; the file holds int8, about 4x smaller;
//! - activations: each such node's data input goes through `QuantizeLinear` → `DequantizeLinear`
//!   with a uint8 scale and zero point from its calibrated range, so the float graph computes on
//!   the values an int8 kernel would see.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{bail, Result};
use serde::Serialize;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{attribute_proto, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

/// Opset from which `DequantizeLinear` takes a per-axis scale.
const PER_AXIS_OPSET: i64 = 13;
/// Opset that introduced `QuantizeLinear` / `DequantizeLinear`.
const QDQ_OPSET: i64 = 10;

/// One weight made int8.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizedWeight {
    /// The initializer's name.
    pub name: String,
    /// The op that reads it.
    pub op: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// One scale per output channel (opset 13 on), or one for the tensor.
    pub per_channel: bool,
    /// How many scales.
    pub scales: usize,
    /// Largest |w − dequantized(w)|.
    pub max_error: f32,
}

/// One activation quantized from its calibrated range.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizedActivation {
    /// The tensor.
    pub tensor: String,
    /// Its range on the calibration rows.
    pub min: f32,
    /// Its range on the calibration rows.
    pub max: f32,
    /// The uint8 scale.
    pub scale: f32,
    /// The uint8 zero point.
    pub zero_point: u8,
}

/// A node whose weight is quantized: the node's index, its data input and its weight.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index in the graph's nodes.
    pub node: usize,
    /// `MatMul`, `Gemm` or `Conv`.
    pub op: String,
    /// The data input (input 0).
    pub activation: String,
    /// The float initializer (input 1).
    pub weight: String,
    /// The output-channel axis of the weight.
    pub axis: usize,
}

fn attribute_int(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// The default domain's opset.
pub fn opset(model: &ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .unwrap_or(1)
}

/// The nodes whose weight can be quantized: a standard `MatMul`, `Gemm` or `Conv` whose input 1
/// is a float initializer of rank 2 or more.
pub fn targets(graph: &GraphProto) -> Vec<Target> {
    let floats: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .filter(|t| t.data_type == DataType::Float as i32 && t.dims.len() >= 2)
        .map(|t| (t.name.as_str(), t))
        .collect();
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.domain.is_empty() || n.domain == "ai.onnx")
        .filter_map(|(i, n)| {
            let weight = floats.get(n.input.get(1)?.as_str())?;
            let rank = weight.dims.len();
            let axis = match n.op_type.as_str() {
                "MatMul" => rank - 1,
                "Gemm" if attribute_int(n, "transB") == Some(1) => 0,
                "Gemm" => 1,
                "Conv" => 0,
                _ => return None,
            };
            Some(Target {
                node: i,
                op: n.op_type.clone(),
                activation: n.input.first()?.clone(),
                weight: weight.name.clone(),
                axis,
            })
        })
        .collect()
}

/// The float values of an initializer held in the file.
pub fn float_values(tensor: &TensorProto) -> Result<Vec<f32>> {
    let count: usize = tensor.dims.iter().map(|&d| d.max(0) as usize).product();
    let values: Vec<f32> = if !tensor.float_data.is_empty() {
        tensor.float_data.clone()
    } else if tensor.data_location == Some(1) {
        bail!(
            "initializer `{}` is stored outside the file (external data)",
            tensor.name
        );
    } else {
        tensor
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    if values.len() != count {
        bail!(
            "initializer `{}` holds {} values for shape {:?}",
            tensor.name,
            values.len(),
            tensor.dims
        );
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        bail!("initializer `{}` holds {bad}", tensor.name);
    }
    Ok(values)
}

/// Symmetric int8 of `values` with one scale per slice along `axis` of `dims` (or one in all when
/// `axis` is `None`): the int8 values, the scales, and the largest rounding error.
pub fn quantize_symmetric(values: &[f32], dims: &[i64], axis: Option<usize>) -> (Vec<i8>, Vec<f32>, f32) {
    let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    let (channels, inner) = match axis {
        Some(a) => (dims[a], dims[a + 1..].iter().product::<usize>()),
        None => (1, values.len().max(1)),
    };
    let channel_of = |i: usize| (i / inner) % channels.max(1);
    let mut peak = vec![0f32; channels.max(1)];
    for (i, v) in values.iter().enumerate() {
        let c = channel_of(i);
        peak[c] = peak[c].max(v.abs());
    }
    let scales: Vec<f32> = peak.iter().map(|&p| if p > 0.0 { p / 127.0 } else { 1.0 }).collect();
    let mut max_error = 0f32;
    let quantized = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = scales[channel_of(i)];
            let q = (v / s).round().clamp(-127.0, 127.0);
            max_error = max_error.max((q * s - v).abs());
            q as i8
        })
        .collect();
    (quantized, scales, max_error)
}

/// The uint8 scale and zero point that cover `[min, max]` (widened to include 0, as ONNX
/// requires zero to be exact).
pub fn uint8_parameters(min: f32, max: f32) -> (f32, u8) {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    if hi - lo <= f32::EPSILON {
        return (1.0, 0);
    }
    let scale = (hi - lo) / 255.0;
    let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zero_point)
}

fn tensor(name: String, data_type: DataType, dims: Vec<i64>, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name,
        data_type: data_type as i32,
        dims,
        raw_data,
        ..TensorProto::default()
    }
}

fn float_tensor(name: String, dims: Vec<i64>, values: &[f32]) -> TensorProto {
    tensor(
        name,
        DataType::Float,
        dims,
        values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

fn node(op: &str, name: String, inputs: [&str; 3], output: &str, axis: Option<i64>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name,
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute: axis
            .map(|a| {
                vec![AttributeProto {
                    name: "axis".into(),
                    r#type: attribute_proto::AttributeType::Int as i32,
                    i: a,
                    ..AttributeProto::default()
                }]
            })
            .unwrap_or_default(),
        ..NodeProto::default()
    }
}

/// A name not yet used in `graph` starting with `base`.
fn fresh(base: String, taken: &mut HashSet<String>) -> String {
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains(&name) {
        n += 1;
        name = format!("{base}_{n}");
    }
    taken.insert(name.clone());
    name
}

fn names_in(graph: &GraphProto) -> HashSet<String> {
    let mut taken: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    taken.extend(graph.input.iter().chain(&graph.output).map(|v| v.name.clone()));
    for n in &graph.node {
        taken.extend(n.input.iter().chain(&n.output).cloned());
        taken.insert(n.name.clone());
    }
    taken
}

/// What the rewrite did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rewrite {
    /// The weights made int8.
    pub weights: Vec<QuantizedWeight>,
    /// The activations given a quantize/dequantize pair.
    pub activations: Vec<QuantizedActivation>,
}

/// Rewrites `model` in place: int8 weights for every target, and a uint8 quantize/dequantize pair
/// on every target's data input whose range is in `ranges` (none when `ranges` is empty).
pub fn quantize(model: &mut ModelProto, ranges: &BTreeMap<String, (f32, f32)>) -> Result<Rewrite> {
    let opset = opset(model);
    if opset < QDQ_OPSET {
        bail!("opset {opset} has no QuantizeLinear / DequantizeLinear (opset {QDQ_OPSET} or later is needed)");
    }
    let per_axis = opset >= PER_AXIS_OPSET;
    let Some(graph) = model.graph.as_mut() else {
        bail!("no graph");
    };
    let found = targets(graph);
    if found.is_empty() {
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        bail!(
            "nothing to quantize: no MatMul, Gemm or Conv with a float weight in the file (ops: {})",
            ops.join(", ")
        );
    }
    let mut taken = names_in(graph);
    let mut rewrite = Rewrite::default();
    let mut weight_nodes = Vec::new();
    let mut done: HashSet<String> = HashSet::new();
    for target in &found {
        if !done.insert(target.weight.clone()) {
            continue;
        }
        let Some(position) = graph.initializer.iter().position(|t| t.name == target.weight) else {
            continue;
        };
        let original = graph.initializer.remove(position);
        let values = float_values(&original)?;
        let axis = per_axis.then_some(target.axis);
        let (quantized, scales, max_error) = quantize_symmetric(&values, &original.dims, axis);
        let parameter_dims = if per_axis { vec![scales.len() as i64] } else { vec![] };
        let q_name = fresh(format!("{}_quantized", original.name), &mut taken);
        let s_name = fresh(format!("{}_scale", original.name), &mut taken);
        let z_name = fresh(format!("{}_zero_point", original.name), &mut taken);
        graph.initializer.push(tensor(
            q_name.clone(),
            DataType::Int8,
            original.dims.clone(),
            quantized.iter().map(|&q| q as u8).collect(),
        ));
        graph
            .initializer
            .push(float_tensor(s_name.clone(), parameter_dims.clone(), &scales));
        graph.initializer.push(tensor(
            z_name.clone(),
            DataType::Int8,
            parameter_dims,
            vec![0; scales.len()],
        ));
        // Opsets before 9 list initializers among the inputs too; the weight is no longer one.
        graph.input.retain(|v| v.name != original.name);
        let node_name = fresh(format!("{}_DequantizeLinear", original.name), &mut taken);
        weight_nodes.push(node(
            "DequantizeLinear",
            node_name,
            [&q_name, &s_name, &z_name],
            &original.name,
            axis.map(|a| a as i64),
        ));
        rewrite.weights.push(QuantizedWeight {
            name: original.name.clone(),
            op: target.op.clone(),
            shape: original.dims.clone(),
            per_channel: per_axis,
            scales: scales.len(),
            max_error,
        });
    }

    let mut dequantized: HashMap<String, String> = HashMap::new();
    let mut pairs: HashMap<usize, Vec<NodeProto>> = HashMap::new();
    for target in &found {
        let Some(&(min, max)) = ranges.get(&target.activation) else {
            continue;
        };
        if let Some(name) = dequantized.get(&target.activation) {
            graph.node[target.node].input[0] = name.clone();
            continue;
        }
        let (scale, zero_point) = uint8_parameters(min, max);
        let x = &target.activation;
        let s_name = fresh(format!("{x}_scale"), &mut taken);
        let z_name = fresh(format!("{x}_zero_point"), &mut taken);
        let q_out = fresh(format!("{x}_quantized"), &mut taken);
        let dq_out = fresh(format!("{x}_dequantized"), &mut taken);
        graph.initializer.push(float_tensor(s_name.clone(), vec![], &[scale]));
        graph
            .initializer
            .push(tensor(z_name.clone(), DataType::Uint8, vec![], vec![zero_point]));
        let q = node(
            "QuantizeLinear",
            fresh(format!("{x}_QuantizeLinear"), &mut taken),
            [x, &s_name, &z_name],
            &q_out,
            None,
        );
        let dq = node(
            "DequantizeLinear",
            fresh(format!("{x}_DequantizeLinear"), &mut taken),
            [&q_out, &s_name, &z_name],
            &dq_out,
            None,
        );
        pairs.entry(target.node).or_default().extend([q, dq]);
        graph.node[target.node].input[0] = dq_out.clone();
        dequantized.insert(x.clone(), dq_out);
        rewrite.activations.push(QuantizedActivation {
            tensor: x.clone(),
            min,
            max,
            scale,
            zero_point,
        });
    }

    let mut nodes = weight_nodes;
    for (i, n) in std::mem::take(&mut graph.node).into_iter().enumerate() {
        // The pair goes right before its first consumer, which comes after the tensor's producer.
        nodes.extend(pairs.remove(&i).unwrap_or_default());
        nodes.push(n);
    }
    graph.node = nodes;
    Ok(rewrite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_per_channel_keeps_each_channel_within_half_a_step() {
        // Shape [2, 3], axis 1: channels are columns.
        let values = [1.0, -0.5, 0.015, -2.0, 0.25, 0.02];
        let (q, scales, max_error) = quantize_symmetric(&values, &[2, 3], Some(1));
        assert_eq!(scales, vec![2.0 / 127.0, 0.5 / 127.0, 0.02 / 127.0]);
        assert_eq!(q, vec![64, -127, 95, -127, 64, 127]);
        for (i, &v) in values.iter().enumerate() {
            assert!((f32::from(q[i]) * scales[i % 3] - v).abs() <= scales[i % 3] / 2.0 + 1e-7);
        }
        assert!(max_error <= 2.0 / 127.0 / 2.0 + 1e-6);
    }

    #[test]
    fn per_tensor_and_zero_channels() {
        let (q, scales, _) = quantize_symmetric(&[0.0, 0.0, 3.0, -3.0], &[2, 2], Some(0));
        assert_eq!(scales, vec![1.0, 3.0 / 127.0]);
        assert_eq!(q, vec![0, 0, 127, -127]);
        let (_, scales, _) = quantize_symmetric(&[0.5, -4.0, 1.0, 2.0], &[2, 2], None);
        assert_eq!(scales, vec![4.0 / 127.0]);
    }

    #[test]
    fn uint8_parameters_include_zero_exactly() {
        assert_eq!(uint8_parameters(0.0, 2.55), (0.01, 0));
        let (scale, zp) = uint8_parameters(-1.0, 3.0);
        assert!((scale - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(zp, 64);
        let (scale, zp) = uint8_parameters(0.5, 1.0);
        assert_eq!(zp, 0);
        assert!((scale - 1.0 / 255.0).abs() < 1e-7);
        assert_eq!(uint8_parameters(0.0, 0.0), (1.0, 0));
    }
}

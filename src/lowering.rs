//! Rewrites of an ONNX graph before tract reads it, for ops tract lacks or gets wrong.
//!
//! Each rewrite replaces nodes by float ops that tract runs with its fast kernels:
//! - A per-tensor `QuantizeLinear` whose only consumers are matching `DequantizeLinear`s becomes
//!   one [`FakeQuantize`](crate::ops::FakeQuantize): activations are rounded to the int8 grid
//!   exactly as onnxruntime's QuantizeLinear does, in one pass.
//! - Other `QuantizeLinear` / `DequantizeLinear` become `Div, Round, Add, Clip, Cast` /
//!   `Cast, Sub, Mul`; a `DequantizeLinear` of an int8 weight is then folded into a float
//!   constant when tract optimizes.
//!   tract 0.23's own QDQ handling returns 1.0 for every class after a quantized Softmax and runs
//!   slower than float in wasm; as float ops, both problems are gone.
//! - `MatMulInteger` / `ConvInteger` (dynamic quantization) become the float `MatMul` / `Conv`
//!   of the zero-point-centred values: integers that float32 sums exactly at these sizes, and a
//!   constant int8 weight is folded into floats; tract's integer kernels are several times
//!   slower in wasm.
//! - QOperator ops (`QLinearConv`, `QLinearMatMul`, and com.microsoft `QGemm`, `QLinearAdd`,
//!   `QLinearMul`, `QLinearSoftmax`, `QLinearSigmoid`, `QLinearLeakyRelu`,
//!   `QLinearGlobalAveragePool`, `QLinearConcat`) become `DequantizeLinear`, the float op,
//!   `QuantizeLinear`, which the rewrites above then turn into float ops: the same values as
//!   onnxruntime's integer kernels up to the rounding of the requantization.
//! - ai.onnx.ml ops missing in tract: `Scaler` becomes `Sub, Mul`; `Binarizer` becomes
//!   `Greater, Cast`; an integer `OneHotEncoder` becomes `Unsqueeze, Equal, Cast`; `Imputer` becomes `IsNaN` (or `Equal`) and `Where`; `ZipMap`, whose map
//!   output tract does not represent, becomes the plain probabilities (classes come from the
//!   manifest).
//!
//! - After lowering, the predictor takes a rounding of the graph's input or output out of the
//!   graph ([`take_input_quantization`], [`take_output_quantization`]) and applies it itself as
//!   values are copied in and out: the same values, one tract node fewer per call.
//!
//! The model downloaded and cached stays int8: only the in-memory plan is float.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{
    tensor_proto::DataType, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto,
};

use crate::error::{PredictError, Result};
use crate::graph_edit::{attribute, float_attribute, int_attribute, is_standard, readers, DOMAIN};

/// Keeps only `outputs` as graph outputs and drops every node they do not depend on.
pub fn keep_outputs(model: &mut ModelProto, outputs: &[&str]) -> Result<()> {
    let graph = graph_mut(model)?;
    for name in outputs {
        if !graph.output.iter().any(|o| o.name == *name) {
            return Err(PredictError::GraphMismatch(format!(
                "the graph has no output named {name:?} (it has {:?})",
                graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>()
            )));
        }
    }
    graph.output.retain(|o| outputs.contains(&o.name.as_str()));
    let mut needed: HashSet<String> = outputs.iter().map(|s| s.to_string()).collect();
    let mut kept = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o)) {
            kept[i] = true;
            needed.extend(node.input.iter().filter(|s| !s.is_empty()).cloned());
        }
    }
    let mut flags = kept.into_iter();
    graph.node.retain(|_| flags.next().unwrap_or(false));
    Ok(())
}

/// Whether [`lower`] computes products by constant weights with our kernels: quantized
/// activations by int8 weights in integers ([`crate::dense::QuantizedDense`]), other float
/// products on our float tile ([`crate::float_dense::FloatDense`]). In wasm with SIMD, where
/// both are faster than tract's; not natively, where tract's AVX2 float kernel is faster.
pub const OWN_PRODUCTS: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

/// Applies every lowering to the graph, in place ([`lower_with`] for this target).
pub fn lower(model: &mut ModelProto) -> Result<()> {
    lower_with(model, OWN_PRODUCTS)
}

/// Applies every lowering to the graph, in place, with or without our product kernels.
pub fn lower_with(model: &mut ModelProto, own_products: bool) -> Result<()> {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);
    let graph = graph_mut(model)?;
    expand_qlinear_ops(graph);
    sink_quantizations(graph);
    fuse_dynamic_quantization(graph);
    fuse_quantize_dequantize_pairs(graph);
    drop_repeated_fake_quantize(graph);
    bypass_identities(graph);
    sink_quantizations(graph);
    if own_products {
        crate::fuse_dense::fuse_quantized_dense(graph);
        crate::float_dense::fuse_float_dense(graph);
    }
    crate::quantized_softmax::fuse_quantized_softmax(graph, opset);
    let shapes = Initializers::of(graph);
    let mut new_initializers = vec![];
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let mut rewriter = Rewriter {
            node: &node,
            nodes: &mut nodes,
            initializers: &mut new_initializers,
        };
        let done = match (node.domain.as_str(), node.op_type.as_str()) {
            ("" | "ai.onnx", "DequantizeLinear") => rewriter.dequantize_linear(&shapes),
            ("" | "ai.onnx", "QuantizeLinear") => rewriter.quantize_linear(&shapes),
            ("" | "ai.onnx", "MatMulInteger") => rewriter.integer_product("MatMul", &shapes),
            ("" | "ai.onnx", "ConvInteger") => rewriter.integer_product("Conv", &shapes),
            ("ai.onnx.ml", "Scaler") => rewriter.scaler(),
            ("ai.onnx.ml", "ZipMap") => rewriter.zip_map(),
            ("ai.onnx.ml", "Binarizer") => rewriter.binarizer(),
            ("ai.onnx.ml", "Imputer") => rewriter.imputer(),
            ("ai.onnx.ml", "OneHotEncoder") => rewriter.one_hot_encoder(),
            _ => false,
        };
        if !done {
            nodes.push(node);
        }
    }
    graph.node = nodes;
    graph.initializer.extend(new_initializers);
    Ok(())
}

/// Rewrites onnxruntime's dynamic quantization pattern,
/// `DynamicQuantizeLinear(x) -> MatMulInteger|ConvInteger(y, W, y_zp, w_zp) -> Cast -> Mul(Mul(y_scale, w_scale))`,
/// as `DynamicFakeQuantize(x) -> MatMul|Conv(x', (Cast(W) - w_zp) * w_scale)`: the same values,
/// a float product, and a constant weight folded once. Applies only where every reader of the
/// quantized tensor follows the pattern.
fn fuse_dynamic_quantization(graph: &mut GraphProto) {
    let initializers: HashMap<String, TensorProto> =
        graph.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
    loop {
        // One reader, graph output or not.
        let sole_reader = |graph: &GraphProto, name: &str| match readers(graph, name)[..] {
            [one] => Some(one),
            _ => None,
        };
        let outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let mut plan = None;
        'search: for (d, dq) in graph.node.iter().enumerate() {
            if !is_standard(dq, "DynamicQuantizeLinear")
                || dq.output.len() != 3
                || dq.output.iter().any(|o| outputs.contains(o))
            {
                continue;
            }
            let (y, y_scale, y_zp) = (&dq.output[0], &dq.output[1], &dq.output[2]);
            let mut chains = vec![];
            let mut used = HashSet::new();
            for m in readers(graph, y) {
                let product = &graph.node[m];
                let conv = is_standard(product, "ConvInteger");
                if !(conv || is_standard(product, "MatMulInteger"))
                    || product.input[0] != *y
                    || product.input.get(2) != Some(y_zp)
                {
                    continue 'search;
                }
                let Some(c) = sole_reader(graph, &product.output[0]) else {
                    continue 'search;
                };
                let cast = &graph.node[c];
                if !is_standard(cast, "Cast") || attribute(cast, "to").map(|a| a.i) != Some(DataType::Float as i64) {
                    continue 'search;
                }
                let Some(p) = sole_reader(graph, &cast.output[0]) else {
                    continue 'search;
                };
                let mul = &graph.node[p];
                if !is_standard(mul, "Mul") || mul.input.len() != 2 {
                    continue 'search;
                }
                let scale_name = if mul.input[0] == cast.output[0] {
                    &mul.input[1]
                } else {
                    &mul.input[0]
                };
                let Some(s) = graph.node.iter().position(|n| n.output.first() == Some(scale_name)) else {
                    continue 'search;
                };
                let scales = &graph.node[s];
                let w_scale = match scales.input.as_slice() {
                    [a, b] if a == y_scale => b,
                    [a, b] if b == y_scale => a,
                    _ => continue 'search,
                };
                let weight = &product.input[1];
                let w_scale_ok = initializers
                    .get(w_scale)
                    .is_some_and(|t| !conv || t.dims.iter().product::<i64>() == 1);
                let w_zp = product.input.get(3).filter(|z| !z.is_empty());
                let w_zp_ok =
                    w_zp.is_none_or(|z| initializers.get(z).is_some_and(|t| t.dims.iter().product::<i64>() == 1));
                if !(is_standard(scales, "Mul") && initializers.contains_key(weight) && w_scale_ok && w_zp_ok)
                    || sole_reader(graph, scale_name) != Some(p)
                {
                    continue 'search;
                }
                used.extend([m, c, p, s]);
                chains.push((m, p, w_scale.clone(), w_zp.cloned()));
            }
            let other_readers = [y_scale, y_zp]
                .iter()
                .flat_map(|n| readers(graph, n))
                .any(|r| !used.contains(&r));
            if chains.is_empty() || other_readers {
                continue;
            }
            plan = Some((d, chains, used));
            break;
        }
        let Some((d, chains, used)) = plan else { return };
        let dq = graph.node[d].clone();
        let quantized = format!("{}__wasm_predict_dynamic_fake_quantized", dq.output[0]);
        let mut new_nodes = vec![NodeProto {
            input: vec![dq.input[0].clone()],
            output: vec![quantized.clone()],
            name: quantized.clone(),
            op_type: crate::ops::DYNAMIC_FAKE_QUANTIZE.into(),
            domain: DOMAIN.into(),
            ..Default::default()
        }];
        for (m, p, w_scale, w_zp) in chains {
            let product = graph.node[m].clone();
            let scaled = &graph.node[p];
            let out = scaled.output[0].clone();
            let to_float = || vec![int_attribute("to", DataType::Float as i64)];
            let w_float = unique_name(scaled, "weight_float");
            new_nodes.push(single_output_node("Cast", &[&product.input[1]], &w_float, to_float()));
            let mut centred = w_float;
            if let Some(zp) = w_zp {
                let zp_float = unique_name(scaled, "weight_zero_point_float");
                new_nodes.push(single_output_node("Cast", &[&zp], &zp_float, to_float()));
                let c = unique_name(scaled, "weight_centred");
                new_nodes.push(single_output_node("Sub", &[&centred, &zp_float], &c, vec![]));
                centred = c;
            }
            let weight = unique_name(scaled, "weight");
            new_nodes.push(single_output_node("Mul", &[&centred, &w_scale], &weight, vec![]));
            let conv = is_standard(&product, "ConvInteger");
            let attributes = if conv { product.attribute.clone() } else { vec![] };
            let op = if conv { "Conv" } else { "MatMul" };
            new_nodes.push(single_output_node(op, &[&quantized, &weight], &out, attributes));
        }
        // The new nodes stand where the DynamicQuantizeLinear stood; its readers come later.
        let mut rest = vec![];
        for (i, n) in std::mem::take(&mut graph.node).into_iter().enumerate() {
            if i == d {
                rest.append(&mut new_nodes);
            } else if !used.contains(&i) {
                rest.push(n);
            }
        }
        graph.node = rest;
    }
}

/// A `FakeQuantize` of values already on its grid changes nothing: after another one with the same
/// parameters, or after an order-preserving op of such values (QDQ graphs quantize both the input
/// and the output of a MaxPool). Those become `Identity`.
fn drop_repeated_fake_quantize(graph: &mut GraphProto) {
    let mut grid: HashMap<String, Vec<u32>> = HashMap::new();
    let parameters = |node: &NodeProto| -> Vec<u32> { node.attribute.iter().map(|a| a.f.to_bits()).collect() };
    for node in graph.node.iter_mut() {
        let Some(input) = node.input.first().cloned() else {
            continue;
        };
        if node.op_type == crate::ops::FAKE_QUANTIZE {
            let own = parameters(node);
            if grid.get(&input) == Some(&own) {
                node.op_type = "Identity".into();
                node.domain.clear();
                node.attribute.clear();
            }
            if let Some(output) = node.output.first() {
                grid.insert(output.clone(), own);
            }
        } else if ORDER_PRESERVING.iter().any(|op| is_standard(node, op)) {
            if let (Some(on), Some(output)) = (grid.get(&input).cloned(), node.output.first()) {
                grid.insert(output.clone(), on);
            }
        }
    }
}

/// Ops that commute with a per-tensor quantization: they move or pick values without changing them
/// (quantization is non-decreasing, so the max of quantized values is the quantized max).
const ORDER_PRESERVING: [&str; 6] = ["MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Identity"];

/// Removes each `Identity` whose output is not a graph output, its readers reading its input
/// instead (the pair fusions leave one per `DequantizeLinear`).
fn bypass_identities(graph: &mut GraphProto) {
    let outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut renamed: HashMap<String, String> = HashMap::new();
    graph.node.retain(|n| {
        let bypass =
            is_standard(n, "Identity") && n.input.len() == 1 && n.output.len() == 1 && !outputs.contains(&n.output[0]);
        if bypass {
            renamed.insert(n.output[0].clone(), n.input[0].clone());
        }
        !bypass
    });
    // At most one step per removed node: a malformed graph whose Identities form a cycle keeps
    // a name from the cycle (tract refuses it later) rather than looping forever.
    let resolve = |name: &String| {
        let mut name = name;
        for _ in 0..renamed.len() {
            match renamed.get(name) {
                Some(source) => name = source,
                None => break,
            }
        }
        name.clone()
    };
    for node in &mut graph.node {
        node.input = node.input.iter().map(resolve).collect();
    }
}

/// Sinks quantizations past order-preserving ops until none moves, with a bound on the moves: in a
/// malformed graph with a cycle through such an op one could move forever. A quantization left
/// in place computes the same values.
fn sink_quantizations(graph: &mut GraphProto) {
    for _ in 0..graph.node.len().saturating_mul(8) {
        if !sink_quantize_past_order_preserving_op(graph) {
            return;
        }
    }
}

/// Moves one `QuantizeLinear` or `FakeQuantize` past the order-preserving op that is its only
/// reader. A `QuantizeLinear` then meets its `DequantizeLinear` and the pair can be fused
/// (QOperator graphs run MaxPool on uint8 between the two); a `FakeQuantize` past a `MaxPool`
/// rounds a quarter of the values. Returns whether it moved one.
fn sink_quantize_past_order_preserving_op(graph: &mut GraphProto) -> bool {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            readers.entry(input.as_str()).or_default().push(i);
        }
    }
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let found = graph.node.iter().enumerate().find_map(|(i, q)| {
        let quantizes = is_standard(q, "QuantizeLinear") || q.op_type == crate::ops::FAKE_QUANTIZE;
        if !quantizes || q.output.len() != 1 || outputs.contains(q.output[0].as_str()) {
            return None;
        }
        let [j] = readers.get(q.output[0].as_str())?.as_slice() else {
            return None;
        };
        let op = &graph.node[*j];
        let movable = ORDER_PRESERVING.iter().any(|name| is_standard(op, name))
            && op.output.len() == 1
            && op.input.first() == q.output.first()
            && !op.input[1..].contains(&q.output[0]);
        movable.then_some((i, *j))
    });
    let Some((i, j)) = found else { return false };
    let moved = format!("{}__wasm_predict_before_quantize", graph.node[j].output[0]);
    let quantized_output = std::mem::replace(&mut graph.node[j].output[0], moved.clone());
    graph.node[j].input[0] = graph.node[i].input[0].clone();
    let mut quantize = graph.node.remove(i);
    quantize.input[0] = moved;
    quantize.output[0] = quantized_output;
    // The op now comes first: the quantization goes right after it, keeping the order topological.
    graph.node.insert(j, quantize);
    true
}

/// Replaces each per-tensor `QuantizeLinear` read only by `DequantizeLinear`s with the same
/// parameters by one `FakeQuantize`, and those `DequantizeLinear`s by `Identity`.
fn fuse_quantize_dequantize_pairs(graph: &mut GraphProto) {
    let initializers: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            consumers.entry(input.as_str()).or_default().push(i);
        }
    }
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let mut replacements: Vec<(usize, NodeProto)> = vec![];
    for (i, q) in graph.node.iter().enumerate() {
        if !is_standard(q, "QuantizeLinear") || q.output.len() != 1 || outputs.contains(q.output[0].as_str()) {
            continue;
        }
        let parameters = &q.input[1.min(q.input.len())..];
        let Some(dqs) = consumers.get(q.output[0].as_str()) else {
            continue;
        };
        let all_matching_dequantize = dqs.iter().all(|&j| {
            let dq = &graph.node[j];
            is_standard(dq, "DequantizeLinear") && dq.input[0] == q.output[0] && dq.input[1..] == *parameters
        });
        let Some(scale) = parameters
            .first()
            .and_then(|s| initializers.get(s.as_str()))
            .and_then(|t| scalar(t))
        else {
            continue;
        };
        let (zero_point, zp_type) = match parameters.get(1).filter(|s| !s.is_empty()) {
            Some(name) => match initializers
                .get(name.as_str())
                .and_then(|t| Some((scalar(t)?, t.data_type)))
            {
                Some(found) => found,
                None => continue,
            },
            None => (0.0, DataType::Uint8 as i32),
        };
        let Some(range) = integer_range(zp_type) else { continue };
        if !(all_matching_dequantize && scale.is_finite() && scale > 0.0) {
            continue;
        }
        let fused = format!("{}__wasm_predict_fake_quantized", q.output[0]);
        let attributes = [
            ("scale", scale),
            ("zero_point", zero_point),
            ("low", range.0),
            ("high", range.1),
        ];
        replacements.push((
            i,
            NodeProto {
                input: vec![q.input[0].clone()],
                output: vec![fused.clone()],
                name: fused.clone(),
                op_type: crate::ops::FAKE_QUANTIZE.into(),
                domain: DOMAIN.into(),
                attribute: attributes.iter().map(|(n, v)| float_attribute(n, *v)).collect(),
                ..Default::default()
            },
        ));
        for &j in dqs {
            let dq = &graph.node[j];
            replacements.push((
                j,
                NodeProto {
                    input: vec![fused.clone()],
                    output: dq.output.clone(),
                    name: dq.name.clone(),
                    op_type: "Identity".into(),
                    ..Default::default()
                },
            ));
        }
    }
    for (i, node) in replacements {
        graph.node[i] = node;
    }
}

/// Replaces the `FakeQuantize` node at `position` by an `Identity` and returns its op.
fn take_fake_quantize(graph: &mut GraphProto, position: usize) -> Option<crate::ops::FakeQuantize> {
    let node = &graph.node[position];
    let [scale, zero_point, low, high] = crate::ops::grid_of(node).ok()?;
    let op = crate::ops::FakeQuantize::new(scale, zero_point, low, high);
    graph.node[position] = NodeProto {
        input: node.input.iter().take(1).cloned().collect(),
        output: node.output.clone(),
        name: node.name.clone(),
        op_type: "Identity".into(),
        ..Default::default()
    };
    Some(op)
}

/// Takes the `FakeQuantize` of the graph's input out of the graph, when the input (directly or
/// through a `Cast` to float) feeds nothing else, and returns it: the predictor rounds the rows
/// as it copies them in, which costs tract no node of its own. The rounding is element-wise, so
/// the values are the same.
pub fn take_input_quantization(model: &mut ModelProto) -> Option<crate::ops::FakeQuantize> {
    let graph = model.graph.as_mut()?;
    let input = graph.input.first()?.name.clone();
    let mut source = input.clone();
    if readers(graph, &input).len() == 1 {
        if let Some(cast) = graph.node.iter().find(|n| {
            is_standard(n, "Cast")
                && n.input.first() == Some(&input)
                && attribute(n, "to").is_some_and(|a| a.i == DataType::Float as i64)
        }) {
            source = cast.output.first()?.clone();
        }
    }
    if readers(graph, &source).len() != 1 || (source != input && readers(graph, &input).len() != 1) {
        return None;
    }
    let position = graph
        .node
        .iter()
        .position(|n| n.op_type == crate::ops::FAKE_QUANTIZE && n.input.first() == Some(&source))?;
    take_fake_quantize(graph, position)
}

/// Takes the `FakeQuantize` that computes the graph's only output (through `Identity`s) out of the
/// graph, and returns it: the predictor rounds the values as it copies them out. Element-wise,
/// so the same values, and one tract node fewer on every call.
pub fn take_output_quantization(model: &mut ModelProto) -> Option<crate::ops::FakeQuantize> {
    let graph = model.graph.as_mut()?;
    let [output] = &graph.output[..] else {
        return None;
    };
    let mut tensor = output.name.clone();
    for _ in 0..8 {
        let producer = graph.node.iter().position(|n| n.output.first() == Some(&tensor))?;
        let node = &graph.node[producer];
        if node.op_type == crate::ops::FAKE_QUANTIZE {
            return take_fake_quantize(graph, producer);
        }
        if !is_standard(node, "Identity") {
            return None;
        }
        let input = node.input.first()?.clone();
        if readers(graph, &input).len() != 1 {
            return None;
        }
        tensor = input;
    }
    None
}

/// One quantized operand of a QLinear op: the positions of its value, scale and zero point.
type Operand = (usize, usize, usize);

/// Emits the nodes that compute a QLinear op as dequantize, float op, quantize.
struct QLinearExpansion<'a> {
    node: &'a NodeProto,
    nodes: Vec<NodeProto>,
}

impl QLinearExpansion<'_> {
    fn input(&self, i: usize) -> Option<&str> {
        self.node.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn tensor(&self, suffix: &str) -> String {
        unique_name(self.node, suffix)
    }

    fn emit(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(single_output_node(op, inputs, output, attribute));
    }

    /// A float version of operand `(value, scale, zero point)`, per-axis along `axis` if given.
    fn dequantized(&mut self, (value, scale, zp): Operand, axis: Option<i64>, suffix: &str) -> Option<String> {
        let (value, scale) = (self.input(value)?.to_string(), self.input(scale)?.to_string());
        let mut inputs = vec![value.as_str(), scale.as_str()];
        let zp = self.input(zp).map(str::to_string);
        if let Some(zp) = &zp {
            inputs.push(zp);
        }
        let out = self.tensor(suffix);
        let attributes = axis.map(|a| vec![int_attribute("axis", a)]).unwrap_or_default();
        self.emit("DequantizeLinear", &inputs, &out, attributes);
        Some(out)
    }

    /// Quantizes the float result into the node's output with the scale and zero point at `scale`, `zp`.
    fn quantize_into_output(&mut self, float: &str, scale: usize, zp: usize) -> Option<()> {
        let scale = self.input(scale)?.to_string();
        let output = self.node.output.first()?.clone();
        match self.input(zp).map(str::to_string) {
            Some(zp) => self.emit("QuantizeLinear", &[float, &scale, &zp], &output, vec![]),
            None => self.emit("QuantizeLinear", &[float, &scale], &output, vec![]),
        }
        Some(())
    }

    /// `Cast(bias) * scale_a * scale_b`: an int32 bias in float.
    fn bias(&mut self, bias: usize, scale_a: usize, scale_b: usize) -> Option<String> {
        let (bias, a, b) = (
            self.input(bias)?.to_string(),
            self.input(scale_a)?.to_string(),
            self.input(scale_b)?.to_string(),
        );
        let cast = self.tensor("bias_float");
        self.emit(
            "Cast",
            &[&bias],
            &cast,
            vec![int_attribute("to", DataType::Float as i32 as i64)],
        );
        let times_a = self.tensor("bias_times_a");
        self.emit("Mul", &[&cast, &a], &times_a, vec![]);
        let out = self.tensor("bias_dequantized");
        self.emit("Mul", &[&times_a, &b], &out, vec![]);
        Some(out)
    }

    fn copied_attributes(&self, names: &[&str]) -> Vec<AttributeProto> {
        self.node
            .attribute
            .iter()
            .filter(|a| names.contains(&a.name.as_str()))
            .cloned()
            .collect()
    }

    /// Unary ops: `X, X_scale, X_zp, Y_scale, Y_zp`.
    fn unary(&mut self, op: &str, attributes: Vec<AttributeProto>) -> Option<()> {
        let x = self.dequantized((0, 1, 2), None, "x")?;
        let y = self.tensor("y_float");
        self.emit(op, &[&x], &y, attributes);
        self.quantize_into_output(&y, 3, 4)
    }

    /// Binary ops: `A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp`.
    fn binary(&mut self, op: &str) -> Option<()> {
        let a = self.dequantized((0, 1, 2), None, "a")?;
        let b = self.dequantized((3, 4, 5), None, "b")?;
        let y = self.tensor("y_float");
        self.emit(op, &[&a, &b], &y, vec![]);
        self.quantize_into_output(&y, 6, 7)
    }

    fn expand(&mut self) -> Option<()> {
        let node = self.node;
        if node.output.len() != 1 {
            return None;
        }
        let microsoft = node.domain == "com.microsoft";
        match (microsoft, node.op_type.as_str()) {
            (false, "QLinearMatMul") => {
                let a = self.dequantized((0, 1, 2), None, "a")?;
                let b = self.dequantized((3, 4, 5), Some(-1), "b")?;
                let y = self.tensor("y_float");
                self.emit("MatMul", &[&a, &b], &y, vec![]);
                self.quantize_into_output(&y, 6, 7)
            }
            (false, "QLinearConv") => {
                let x = self.dequantized((0, 1, 2), None, "x")?;
                let w = self.dequantized((3, 4, 5), Some(0), "w")?;
                let mut inputs = vec![x, w];
                if self.input(8).is_some() {
                    inputs.push(self.bias(8, 1, 4)?);
                }
                let attributes =
                    self.copied_attributes(&["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"]);
                let y = self.tensor("y_float");
                self.emit(
                    "Conv",
                    &inputs.iter().map(String::as_str).collect::<Vec<_>>(),
                    &y,
                    attributes,
                );
                self.quantize_into_output(&y, 6, 7)
            }
            (true, "QGemm") => {
                let trans_b = attribute(node, "transB").is_some_and(|a| a.i != 0);
                let a = self.dequantized((0, 1, 2), None, "a")?;
                let b = self.dequantized((3, 4, 5), Some(if trans_b { 0 } else { 1 }), "b")?;
                let mut inputs = vec![a, b];
                if self.input(6).is_some() {
                    inputs.push(self.bias(6, 1, 4)?);
                }
                let y = if self.input(7).is_some() {
                    self.tensor("y_float")
                } else {
                    node.output[0].clone()
                };
                let attributes = self.copied_attributes(&["alpha", "transA", "transB"]);
                self.emit(
                    "Gemm",
                    &inputs.iter().map(String::as_str).collect::<Vec<_>>(),
                    &y,
                    attributes,
                );
                if self.input(7).is_some() {
                    self.quantize_into_output(&y, 7, 8)?;
                }
                Some(())
            }
            (true, "QLinearAdd") => self.binary("Add"),
            (true, "QLinearMul") => self.binary("Mul"),
            (true, "QLinearSigmoid") => self.unary("Sigmoid", vec![]),
            (true, "QLinearLeakyRelu") => {
                let alpha = self.copied_attributes(&["alpha"]);
                self.unary("LeakyRelu", alpha)
            }
            (true, "QLinearSoftmax") => {
                let opset = attribute(node, "opset").map(|a| a.i).unwrap_or(13);
                let axis = attribute(node, "axis")
                    .map(|a| a.i)
                    .unwrap_or(if opset >= 13 { -1 } else { 1 });
                self.unary("Softmax", vec![int_attribute("axis", axis)])
            }
            (true, "QLinearGlobalAveragePool") => {
                if attribute(node, "channels_last").is_some_and(|a| a.i != 0) {
                    return None;
                }
                self.unary("GlobalAveragePool", vec![])
            }
            (true, "QLinearConcat") => {
                // Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input.
                let count = node.input.len().checked_sub(2)? / 3;
                let mut parts = vec![];
                for i in 0..count {
                    let at = 2 + 3 * i;
                    parts.push(self.dequantized((at, at + 1, at + 2), None, &format!("x{i}"))?);
                }
                let y = self.tensor("y_float");
                let axis = self.copied_attributes(&["axis"]);
                self.emit(
                    "Concat",
                    &parts.iter().map(String::as_str).collect::<Vec<_>>(),
                    &y,
                    axis,
                );
                self.quantize_into_output(&y, 0, 1)
            }
            _ => None,
        }
    }
}

/// Replaces every QOperator node we know by dequantize, float op, quantize.
fn expand_qlinear_ops(graph: &mut GraphProto) {
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let mut expansion = QLinearExpansion {
            node: &node,
            nodes: vec![],
        };
        match expansion.expand() {
            Some(()) => nodes.append(&mut expansion.nodes),
            None => nodes.push(node),
        }
    }
    graph.node = nodes;
}

/// The range of a quantized integer type.
fn integer_range(data_type: i32) -> Option<(f32, f32)> {
    match data_type {
        t if t == DataType::Uint8 as i32 => Some((0.0, 255.0)),
        t if t == DataType::Int8 as i32 => Some((-128.0, 127.0)),
        t if t == DataType::Uint16 as i32 => Some((0.0, 65535.0)),
        t if t == DataType::Int16 as i32 => Some((-32768.0, 32767.0)),
        _ => None,
    }
}

/// The value of a one-element float, int8, uint8 or int32 tensor.
fn scalar(t: &TensorProto) -> Option<f32> {
    if t.dims.iter().product::<i64>() != 1 {
        return None;
    }
    let raw = &t.raw_data;
    match t.data_type {
        d if d == DataType::Float as i32 => match raw.get(..4) {
            Some(b) => Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            None => t.float_data.first().copied(),
        },
        d if d == DataType::Uint8 as i32 => raw
            .first()
            .map(|&b| b as f32)
            .or(t.int32_data.first().map(|&v| v as f32)),
        d if d == DataType::Int8 as i32 => raw
            .first()
            .map(|&b| b as i8 as f32)
            .or(t.int32_data.first().map(|&v| v as f32)),
        _ => None,
    }
}

fn graph_mut(model: &mut ModelProto) -> Result<&mut GraphProto> {
    model
        .graph
        .as_mut()
        .ok_or_else(|| PredictError::ModelInvalid("the model has no graph".into()))
}

/// Ranks, element types and one-element-ness of the graph's constant tensors and typed values.
struct Initializers {
    rank: HashMap<String, usize>,
    dtype: HashMap<String, i32>,
    scalar: HashSet<String>,
}

impl Initializers {
    fn of(graph: &GraphProto) -> Initializers {
        let mut rank = HashMap::new();
        let mut dtype = HashMap::new();
        let mut scalar = HashSet::new();
        for t in &graph.initializer {
            rank.insert(t.name.clone(), t.dims.len());
            dtype.insert(t.name.clone(), t.data_type);
            if t.dims.iter().product::<i64>() == 1 {
                scalar.insert(t.name.clone());
            }
        }
        let initializer_names: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        // Graph inputs and typed values: scales and zero points given at run time.
        for v in graph.input.iter().chain(&graph.value_info) {
            if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                dtype.entry(v.name.clone()).or_insert(t.elem_type);
                if let Some(shape) = &t.shape {
                    rank.entry(v.name.clone()).or_insert(shape.dim.len());
                    let ones = shape.dim.iter().all(|d| {
                        matches!(
                            d.value,
                            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(1))
                        )
                    });
                    if ones && !initializer_names.contains(v.name.as_str()) {
                        scalar.insert(v.name.clone());
                    }
                }
            }
        }
        Initializers { rank, dtype, scalar }
    }
}

struct Rewriter<'a> {
    node: &'a NodeProto,
    nodes: &'a mut Vec<NodeProto>,
    initializers: &'a mut Vec<TensorProto>,
}

impl Rewriter<'_> {
    /// A tensor name unique to this node.
    fn name(&self, suffix: &str) -> String {
        unique_name(self.node, suffix)
    }

    fn push(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) {
        self.nodes.push(single_output_node(op, inputs, output, attributes));
    }

    fn cast(&mut self, input: &str, output: &str, to: i32) {
        self.push("Cast", &[input], output, vec![int_attribute("to", to as i64)]);
    }

    fn float_constant(&mut self, suffix: &str, dims: Vec<i64>, values: Vec<f32>) -> String {
        let name = self.name(suffix);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims,
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name
    }

    /// Brings a per-axis scale or zero point of length C to a shape that broadcasts along `axis`
    /// of a tensor of rank `rank`: `[C, 1, ..., 1]`.
    fn along_axis(&mut self, tensor: &str, suffix: &str, axis: usize, rank: usize) -> String {
        if axis + 1 == rank {
            return tensor.to_string();
        }
        let shape = self.name(&format!("{suffix}_shape"));
        let mut dims = vec![-1i64];
        dims.resize(rank - axis, 1);
        self.initializers.push(int64_vector(&shape, dims));
        let out = self.name(suffix);
        self.push("Reshape", &[tensor, &shape], &out, vec![]);
        out
    }

    /// The axis the node's per-axis parameters apply to, once resolved against the input rank;
    /// `None` for per-tensor parameters. `Err(())` when the rank is needed but unknown.
    fn parameter_axis(&self, shapes: &Initializers) -> std::result::Result<Option<(usize, usize)>, ()> {
        let scale = self.node.input.get(1).ok_or(())?;
        if shapes.scalar.contains(scale) {
            return Ok(None);
        }
        if shapes.rank.get(scale) != Some(&1) {
            return Err(());
        }
        let rank = *shapes.rank.get(&self.node.input[0]).ok_or(())?;
        let axis = attribute(self.node, "axis").map(|a| a.i).unwrap_or(1);
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        if axis < 0 || axis as usize >= rank {
            return Err(());
        }
        Ok(Some((axis as usize, rank)))
    }

    fn has_block_size(&self) -> bool {
        attribute(self.node, "block_size").is_some_and(|a| a.i != 0)
    }

    fn dequantize_linear(&mut self, shapes: &Initializers) -> bool {
        let node = self.node;
        let Ok(axis) = self.parameter_axis(shapes) else {
            return false;
        };
        if self.has_block_size() || node.input.len() < 2 || node.output.len() != 1 {
            return false;
        }
        let x_float = self.name("x_float");
        self.cast(&node.input[0], &x_float, DataType::Float as i32);
        let mut scale = node.input[1].clone();
        let mut centered = x_float;
        if let Some(zp) = node.input.get(2).filter(|s| !s.is_empty()) {
            let zp_float = self.name("zero_point_float");
            self.cast(zp, &zp_float, DataType::Float as i32);
            let zp_float = match axis {
                Some((axis, rank)) => self.along_axis(&zp_float, "zero_point_axis", axis, rank),
                None => zp_float,
            };
            let out = self.name("centered");
            self.push("Sub", &[&centered, &zp_float], &out, vec![]);
            centered = out;
        }
        if let Some((axis, rank)) = axis {
            scale = self.along_axis(&scale, "scale_axis", axis, rank);
        }
        self.push("Mul", &[&centered, &scale], &node.output[0], vec![]);
        true
    }

    fn quantize_linear(&mut self, shapes: &Initializers) -> bool {
        let node = self.node;
        let Ok(axis) = self.parameter_axis(shapes) else {
            return false;
        };
        if self.has_block_size() || node.input.len() < 2 || node.output.len() != 1 {
            return false;
        }
        let zero_point = node.input.get(2).filter(|s| !s.is_empty());
        let to = match zero_point {
            Some(zp) => match shapes.dtype.get(zp) {
                Some(t) => *t,
                None => return false,
            },
            None => attribute(node, "output_dtype")
                .map(|a| a.i as i32)
                .filter(|t| *t != 0)
                .unwrap_or(DataType::Uint8 as i32),
        };
        let Some((low, high)) = integer_range(to) else {
            return false;
        };
        let mut scale = node.input[1].clone();
        if let Some((axis, rank)) = axis {
            scale = self.along_axis(&scale, "scale_axis", axis, rank);
        }
        let scaled = self.name("scaled");
        self.push("Div", &[&node.input[0], &scale], &scaled, vec![]);
        let rounded = self.name("rounded");
        self.push("Round", &[&scaled], &rounded, vec![]);
        let mut shifted = rounded;
        if let Some(zp) = zero_point {
            let zp_float = self.name("zero_point_float");
            self.cast(zp, &zp_float, DataType::Float as i32);
            let zp_float = match axis {
                Some((axis, rank)) => self.along_axis(&zp_float, "zero_point_axis", axis, rank),
                None => zp_float,
            };
            let out = self.name("shifted");
            self.push("Add", &[&shifted, &zp_float], &out, vec![]);
            shifted = out;
        }
        let low = self.float_constant("low", vec![], vec![low]);
        let high = self.float_constant("high", vec![], vec![high]);
        // Max and Min rather than Clip, whose form changed at opset 11.
        let floored = self.name("floored");
        self.push("Max", &[&shifted, &low], &floored, vec![]);
        let clipped = self.name("clipped");
        self.push("Min", &[&floored, &high], &clipped, vec![]);
        self.cast(&clipped, &node.output[0], to);
        true
    }

    fn scaler(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let offset = attribute(node, "offset").map(|a| a.floats.clone()).unwrap_or_default();
        let scale = attribute(node, "scale").map(|a| a.floats.clone()).unwrap_or_default();
        let mut current = node.input[0].clone();
        if !offset.is_empty() {
            let c = self.float_constant("offset", vec![offset.len() as i64], offset);
            let out = self.name("offset_applied");
            self.push("Sub", &[&current, &c], &out, vec![]);
            current = out;
        }
        if scale.is_empty() {
            self.push("Identity", &[&current], &node.output[0], vec![]);
        } else {
            let c = self.float_constant("scale", vec![scale.len() as i64], scale);
            self.push("Mul", &[&current, &c], &node.output[0], vec![]);
        }
        true
    }
}

impl Rewriter<'_> {
    fn zip_map(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        self.push("Identity", &[&node.input[0]], &node.output[0], vec![]);
        true
    }

    fn binarizer(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let threshold = attribute(node, "threshold").map(|a| a.f).unwrap_or(0.0);
        let threshold = self.float_constant("threshold", vec![], vec![threshold]);
        let above = self.name("above");
        self.push("Greater", &[&node.input[0], &threshold], &above, vec![]);
        self.cast(&above, &node.output[0], DataType::Float as i32);
        true
    }

    fn imputer(&mut self) -> bool {
        let node = self.node;
        let values = attribute(node, "imputed_value_floats")
            .map(|a| a.floats.clone())
            .unwrap_or_default();
        if node.input.len() != 1 || node.output.len() != 1 || values.is_empty() {
            return false;
        }
        let replaced = attribute(node, "replaced_value_float").map(|a| a.f).unwrap_or(0.0);
        let mask = self.name("missing");
        if replaced.is_nan() {
            self.push("IsNaN", &[&node.input[0]], &mask, vec![]);
        } else {
            let replaced = self.float_constant("replaced", vec![], vec![replaced]);
            self.push("Equal", &[&node.input[0], &replaced], &mask, vec![]);
        }
        let dims = if values.len() == 1 {
            vec![]
        } else {
            vec![values.len() as i64]
        };
        let values = self.float_constant("imputed", dims, values);
        self.push("Where", &[&mask, &values, &node.input[0]], &node.output[0], vec![]);
        true
    }
}

impl Rewriter<'_> {
    /// `op(Cast(A) - a_zp, Cast(B) - b_zp)` as an int32 tensor, like the integer op it replaces.
    /// Per-tensor zero points only, and for `Conv` the int8/uint8 attributes carry over.
    fn integer_product(&mut self, op: &str, shapes: &Initializers) -> bool {
        let node = self.node;
        if node.input.len() < 2 || node.output.len() != 1 {
            return false;
        }
        let zero_points_are_scalars = node.input[2..]
            .iter()
            .filter(|zp| !zp.is_empty())
            .all(|zp| shapes.scalar.contains(zp) || shapes.rank.get(zp) == Some(&0));
        if !zero_points_are_scalars {
            return false;
        }
        let mut centred = vec![];
        for (k, side) in ["a", "b"].iter().enumerate() {
            let value = self.name(&format!("{side}_float"));
            self.cast(&node.input[k], &value, DataType::Float as i32);
            match node.input.get(k + 2).filter(|zp| !zp.is_empty()) {
                Some(zp) => {
                    let zp_float = self.name(&format!("{side}_zero_point_float"));
                    self.cast(zp, &zp_float, DataType::Float as i32);
                    let out = self.name(&format!("{side}_centred"));
                    self.push("Sub", &[&value, &zp_float], &out, vec![]);
                    centred.push(out);
                }
                None => centred.push(value),
            }
        }
        let attributes = if op == "Conv" {
            node.attribute
                .iter()
                .filter(|a| a.name != "group" || a.i != 1)
                .cloned()
                .collect()
        } else {
            vec![]
        };
        let product = self.name("product");
        self.push(op, &[&centred[0], &centred[1]], &product, attributes);
        self.cast(&product, &node.output[0], DataType::Int32 as i32);
        true
    }

    /// `Y[..., c] = (X[...] == cats[c])` for integer categories; an unknown category gives a row
    /// of zeros (onnxruntime refuses it when `zeros` is 0).
    fn one_hot_encoder(&mut self) -> bool {
        let node = self.node;
        let Some(cats) = attribute(node, "cats_int64s")
            .map(|a| a.ints.clone())
            .filter(|c| !c.is_empty())
        else {
            return false;
        };
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let axes = self.name("axes");
        let categories = self.name("categories");
        self.initializers.push(int64_vector(&axes, vec![-1]));
        self.initializers.push(int64_vector(&categories, cats));
        let as_int = self.name("as_int64");
        self.cast(&node.input[0], &as_int, DataType::Int64 as i32);
        let expanded = self.name("expanded");
        self.push("Unsqueeze", &[&as_int, &axes], &expanded, vec![]);
        let hits = self.name("hits");
        self.push("Equal", &[&expanded, &categories], &hits, vec![]);
        self.cast(&hits, &node.output[0], DataType::Float as i32);
        true
    }
}

/// A tensor name unique to `node`: its first output (or its name) with a suffix.
fn unique_name(node: &NodeProto, suffix: &str) -> String {
    format!(
        "{}__wasm_predict_{suffix}",
        node.output.first().map(String::as_str).unwrap_or(&node.name)
    )
}

/// A node of the default domain with one output, named after it.
fn single_output_node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op.to_string(),
        attribute,
        ..Default::default()
    }
}

/// A one-dimensional int64 constant.
fn int64_vector(name: &str, values: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values,
        ..Default::default()
    }
}

//! `FakeQuantize`: a rounding to an 8-bit grid, `(clamp(round_half_even(x / s) + zp, lo, hi) - zp) * s`,
//! the values onnxruntime's integer kernels see, in one pass; `DynamicFakeQuantize` finds the grid
//! of each tensor first, as `DynamicQuantizeLinear` does. Their fusions: a QDQ pair, or
//! onnxruntime's dynamic-quantization pattern, becomes one node; a repeated rounding is dropped;
//! the graph's first and last roundings are taken out for the predictor to apply.

use std::collections::{HashMap, HashSet};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::{ElementWiseMiniOp, ElementWiseOp};
use tract_onnx::tract_hir::ops::element_wise::ElementWiseIntoHir;
use tract_onnx::Onnx;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::AttributeProto;
use tract_onnx::pb::{GraphProto, ModelProto, TensorProto};
use wasm_predict_kernels::{Grid, Rounding};

use crate::graph_edit::{
    attribute, float_attribute, int_attribute, integer_range, is_standard, readers, scalar, single_output_node,
    unique_name, DOMAIN, ORDER_PRESERVING,
};

/// Op type of [`FakeQuantize`] in rewritten graphs.
pub const FAKE_QUANTIZE: &str = "WasmPredictFakeQuantize";

/// Op type of [`DynamicFakeQuantize`] in rewritten graphs.
pub const DYNAMIC_FAKE_QUANTIZE: &str = "WasmPredictDynamicFakeQuantize";

/// ONNX's uint8 `DynamicQuantizeLinear` followed by the dequantization of its result, in place:
/// the scale and zero point come from the tensor's range (widened to include 0), then every value
/// is rounded to that grid. Two passes over f32 instead of tract's integer path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicFakeQuantize;

impl DynamicFakeQuantize {
    /// Applies the op to values in place.
    pub fn apply(values: &mut [f32]) {
        wasm_predict_kernels::dynamic_fake_quantize(values);
    }
}

impl ElementWiseMiniOp for DynamicFakeQuantize {
    fn name(&self) -> String {
        DYNAMIC_FAKE_QUANTIZE.into()
    }

    fn eval_in_place(&self, t: &mut Tensor, _out_dt: Option<DatumType>) -> TractResult<()> {
        let mut view = t.try_as_plain_ram_mut()?;
        DynamicFakeQuantize::apply(view.as_slice_mut::<f32>()?);
        Ok(())
    }

    fn operating_datum_type(&self, _dt: DatumType) -> DatumType {
        DatumType::F32
    }
}

/// A `QuantizeLinear` followed by its `DequantizeLinear`, per tensor, in one pass over f32:
/// `(clamp(round_half_even(x / scale) + zero_point, low, high) - zero_point) * scale`.
///
/// The values are those onnxruntime computes through the int8 grid; fused, the pair costs one
/// pass instead of nine tract ops with two casts through u8.
#[derive(Debug, Clone)]
pub struct FakeQuantize {
    grid: Grid,
}

impl PartialEq for FakeQuantize {
    fn eq(&self, other: &Self) -> bool {
        self.grid.bits() == other.grid.bits()
    }
}

// By the grid's bits, so that the op is `Eq` as tract requires.
impl Eq for FakeQuantize {}

impl FakeQuantize {
    /// The op rounding to `grid`.
    pub fn new(grid: Grid) -> FakeQuantize {
        FakeQuantize { grid }
    }

    /// The grid it rounds to.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// Applies the op to values in place.
    pub fn apply(&self, values: &mut [f32]) {
        // clamp(round(x) + zp, low, high) - zp is round(clamp(x, low - zp, high - zp)) for an
        // integer zp.
        wasm_predict_kernels::fake_quantize(values, Rounding::centred(self.grid));
    }
}

impl ElementWiseMiniOp for FakeQuantize {
    fn name(&self) -> String {
        FAKE_QUANTIZE.into()
    }

    fn eval_in_place(&self, t: &mut Tensor, _out_dt: Option<DatumType>) -> TractResult<()> {
        let mut view = t.try_as_plain_ram_mut()?;
        self.apply(view.as_slice_mut::<f32>()?);
        Ok(())
    }

    fn operating_datum_type(&self, _dt: DatumType) -> DatumType {
        DatumType::F32
    }
}

/// The grid that a node's float attributes `scale`, `zero_point`, `low` and `high` give: a
/// `FakeQuantize` carries it so, and so do the ops fused from one ([`grid_attributes`]).
pub fn grid_of(node: &NodeProto) -> TractResult<Grid> {
    let value = |name| {
        crate::graph_edit::attribute(node, name)
            .map(|a| a.f)
            .ok_or_else(|| anyhow::anyhow!("{} node {:?} lacks attribute {name}", node.op_type, node.name))
    };
    Ok(Grid {
        scale: value("scale")?,
        zero_point: value("zero_point")?,
        low: value("low")?,
        high: value("high")?,
    })
}

/// The attributes that carry `grid` on a node, as [`grid_of`] reads them.
pub fn grid_attributes(grid: Grid) -> [AttributeProto; 4] {
    [
        float_attribute("scale", grid.scale),
        float_attribute("zero_point", grid.zero_point),
        float_attribute("low", grid.low),
        float_attribute("high", grid.high),
    ]
}

/// Adds `FakeQuantize` and `DynamicFakeQuantize` to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(FAKE_QUANTIZE, |_, node| {
        let op = FakeQuantize::new(grid_of(node)?);
        Ok((ElementWiseOp(Box::new(op), None).into_hir(), vec![]))
    });
    onnx.op_register.insert(DYNAMIC_FAKE_QUANTIZE, |_, _| {
        Ok((ElementWiseOp(Box::new(DynamicFakeQuantize), None).into_hir(), vec![]))
    });
}

/// Rewrites onnxruntime's dynamic quantization pattern,
/// `DynamicQuantizeLinear(x) -> MatMulInteger|ConvInteger(y, W, y_zp, w_zp) -> Cast -> Mul(Mul(y_scale, w_scale))`,
/// as `DynamicFakeQuantize(x) -> MatMul|Conv(x', (Cast(W) - w_zp) * w_scale)`: the same values,
/// a float product, and a constant weight folded once. Applies only where every reader of the
/// quantized tensor follows the pattern.
pub fn fuse_dynamic_quantization(graph: &mut GraphProto) {
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
            op_type: DYNAMIC_FAKE_QUANTIZE.into(),
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
pub fn drop_repeated_fake_quantize(graph: &mut GraphProto) {
    let mut grid: HashMap<String, Vec<u32>> = HashMap::new();
    let parameters = |node: &NodeProto| -> Vec<u32> { node.attribute.iter().map(|a| a.f.to_bits()).collect() };
    for node in graph.node.iter_mut() {
        let Some(input) = node.input.first().cloned() else {
            continue;
        };
        if node.op_type == FAKE_QUANTIZE {
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

/// Replaces each per-tensor `QuantizeLinear` read only by `DequantizeLinear`s with the same
/// parameters by one `FakeQuantize`, and those `DequantizeLinear`s by `Identity`.
pub fn fuse_quantize_dequantize_pairs(graph: &mut GraphProto) {
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
        let grid = Grid {
            scale,
            zero_point,
            low: range.0,
            high: range.1,
        };
        replacements.push((
            i,
            NodeProto {
                input: vec![q.input[0].clone()],
                output: vec![fused.clone()],
                name: fused.clone(),
                op_type: FAKE_QUANTIZE.into(),
                domain: DOMAIN.into(),
                attribute: grid_attributes(grid).into(),
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
fn take_fake_quantize(graph: &mut GraphProto, position: usize) -> Option<FakeQuantize> {
    let node = &graph.node[position];
    let op = FakeQuantize::new(grid_of(node).ok()?);
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
pub fn take_input_quantization(model: &mut ModelProto) -> Option<FakeQuantize> {
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
        .position(|n| n.op_type == FAKE_QUANTIZE && n.input.first() == Some(&source))?;
    take_fake_quantize(graph, position)
}

/// Takes the `FakeQuantize` that computes the graph's only output (through `Identity`s) out of the
/// graph, and returns it: the predictor rounds the values as it copies them out. Element-wise,
/// so the same values, and one tract node fewer on every call.
pub fn take_output_quantization(model: &mut ModelProto) -> Option<FakeQuantize> {
    let graph = model.graph.as_mut()?;
    let [output] = &graph.output[..] else {
        return None;
    };
    let mut tensor = output.name.clone();
    for _ in 0..8 {
        let producer = graph.node.iter().position(|n| n.output.first() == Some(&tensor))?;
        let node = &graph.node[producer];
        if node.op_type == FAKE_QUANTIZE {
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

#[cfg(test)]
mod tests {
    use super::{DynamicFakeQuantize, FakeQuantize};
    use wasm_predict_kernels::Grid;

    #[test]
    fn dynamic_fake_quantize_uses_the_range_widened_to_zero() {
        // min -1, max 2: scale 3/255, zero point round(85) = 85; values land on that grid.
        let mut values = [-1.0f32, 0.0, 2.0, 0.5];
        DynamicFakeQuantize::apply(&mut values);
        let scale = 3.0f32 / 255.0;
        assert_eq!(values[1], 0.0);
        assert!((values[0] + 1.0).abs() < 1e-6 && (values[2] - 2.0).abs() < 1e-6);
        assert_eq!(values[3], (0.5f32 / scale).round_ties_even() * scale);
        let mut zeros = [0.0f32; 4];
        DynamicFakeQuantize::apply(&mut zeros);
        assert_eq!(zeros, [0.0; 4]);
    }

    #[test]
    fn fake_quantize_rounds_half_to_even_and_saturates() {
        let op = FakeQuantize::new(Grid {
            scale: 0.5,
            zero_point: 10.0,
            low: 0.0,
            high: 255.0,
        });
        let mut values = [0.25, 0.75, 1.3, -5.0, -6.0, 200.0, 0.0];
        op.apply(&mut values);
        // 0.25/0.5 = 0.5 -> 0; 0.75/0.5 = 1.5 -> 2; 2.6 -> 3; -10 -> 0 after zp; -12+10 = -2 -> clamp 0; 400 -> 255.
        assert_eq!(values, [0.0, 1.0, 1.5, -5.0, -5.0, 122.5, 0.0]);
    }

    #[test]
    fn fake_quantize_equals_the_quantize_dequantize_formula_bit_for_bit() {
        let reference = |x: f32, scale: f32, zp: f32, low: f32, high: f32| {
            let q = (x / scale).round_ties_even() + zp;
            let q = if q < low {
                low
            } else if q > high {
                high
            } else {
                q
            };
            (q - zp) * scale
        };
        let mut inputs: Vec<f32> = (-3000..=3000).map(|i| i as f32 * 0.0137).collect();
        inputs.extend((-600..=600).map(|i| i as f32 * 0.5));
        inputs.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            1e30,
            -1e-30,
            0.0,
            -0.0,
        ]);
        for (scale, zp, low, high) in [
            (0.5, 10.0, 0.0, 255.0),
            (0.0123, 128.0, 0.0, 255.0),
            (0.25, 0.0, -128.0, 127.0),
            (0.031, -7.0, -128.0, 127.0),
            (3.0 / 255.0, 85.0, 0.0, 255.0),
        ] {
            let mut values = inputs.clone();
            FakeQuantize::new(Grid {
                scale,
                zero_point: zp,
                low,
                high,
            })
            .apply(&mut values);
            for (x, got) in inputs.iter().zip(values) {
                let want = reference(*x, scale, zp, low, high);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "x {x}, scale {scale}, zp {zp}: {got} vs {want}"
                );
            }
            let mut nan = [f32::NAN];
            FakeQuantize::new(Grid {
                scale,
                zero_point: zp,
                low,
                high,
            })
            .apply(&mut nan);
            assert!(nan[0].is_nan());
        }
    }

    #[test]
    fn a_quantize_dequantize_pair_fuses_into_one_fake_quantize_and_a_repeat_is_dropped() {
        use super::{drop_repeated_fake_quantize, fuse_quantize_dequantize_pairs, FAKE_QUANTIZE};
        use crate::test_graph::{ops, qdq_relu, run};
        let before = qdq_relu(&[1, 4]);
        let mut after = before.clone();
        fuse_quantize_dequantize_pairs(&mut after);
        assert_eq!(ops(&after), [FAKE_QUANTIZE, "Identity", "Relu"]);
        let x = [-20.0, -0.26, 0.33, 30.0];
        assert_eq!(run(&before, &x), run(&after, &x));

        // The same rounding again changes nothing: it becomes an Identity.
        let mut twice = after.clone();
        let mut again = twice.node[0].clone();
        again.input = vec![again.output[0].clone()];
        again.output = vec!["again".into()];
        again.name = "again".into();
        twice.node.insert(1, again);
        twice.node[2].input = vec!["again".into()];
        drop_repeated_fake_quantize(&mut twice);
        assert_eq!(ops(&twice), [FAKE_QUANTIZE, "Identity", "Identity", "Relu"]);
        assert_eq!(run(&twice, &x), run(&before, &x));
    }

    #[test]
    fn dynamic_quantization_becomes_one_rounding_and_a_float_product() {
        use super::{fuse_dynamic_quantization, DYNAMIC_FAKE_QUANTIZE};
        use crate::test_graph::{floats, graph, node, node_in, ops, run};
        use tract_onnx::pb::NodeProto;
        let weight = tract_onnx::pb::TensorProto {
            name: "w".into(),
            dims: vec![2, 2],
            data_type: tract_onnx::pb::tensor_proto::DataType::Int8 as i32,
            int32_data: vec![10, -20, 30, 40],
            ..Default::default()
        };
        let w_zp = tract_onnx::pb::TensorProto {
            name: "w_zp".into(),
            data_type: tract_onnx::pb::tensor_proto::DataType::Int8 as i32,
            int32_data: vec![0],
            ..Default::default()
        };
        let dql = NodeProto {
            op_type: "DynamicQuantizeLinear".into(),
            name: "dql".into(),
            input: vec!["x".into()],
            output: vec!["xq".into(), "x_s".into(), "x_zp".into()],
            ..Default::default()
        };
        let before = graph(
            vec![
                dql,
                node("MatMulInteger", &["xq", "w", "x_zp", "w_zp"], "acc"),
                node_in(
                    "",
                    "Cast",
                    &["acc"],
                    "accf",
                    vec![crate::graph_edit::int_attribute("to", 1)],
                ),
                node("Mul", &["x_s", "w_s"], "s"),
                node("Mul", &["accf", "s"], "y"),
            ],
            vec![weight, w_zp, floats("w_s", &[], &[0.01])],
            &[1, 2],
        );
        let mut after = before.clone();
        fuse_dynamic_quantization(&mut after);
        assert!(ops(&after).contains(&DYNAMIC_FAKE_QUANTIZE), "{:?}", ops(&after));
        assert!(!ops(&after).contains(&"MatMulInteger"), "{:?}", ops(&after));
        let x = [0.7, -1.3];
        let (want, got) = (run(&before, &x), run(&after, &x));
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 1e-5 * w.abs().max(1.0), "{want:?} != {got:?}");
        }
    }
}

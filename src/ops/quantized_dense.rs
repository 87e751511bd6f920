//! `QuantizedDense`: a quantized activation times an int8 weight, in integers.
//!
//! [`fuse_quantized_dense`] puts it where a graph rounds an activation to an 8-bit grid and multiplies
//! it by a constant 8-bit weight (`QuantizeLinear -> DequantizeLinear -> MatMul|Gemm`, plus the
//! bias `Add` and `Relu` that follow). Instead of rounding the floats, writing them back and
//! running a float product over the dequantized weight, it rounds each row to 16-bit integers,
//! multiplies them by the weight's integers with exact 32-bit sums (in wasm, `i32x4.dot_i16x8_s`:
//! 8 multiply-adds per instruction, where the float kernel does 4 in two), and scales the sums
//! once per output: `y = acc * (input_scale * weight_scale[m]) + bias[m]`, then `max(y, 0)` if a
//! Relu was fused. That is how onnxruntime's integer kernels compute it too.

use std::collections::HashSet;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;

use crate::graph_edit::{
    attribute, floats_attribute, int_attribute, is_standard, only_reader, tensor_attribute, DOMAIN,
};
use crate::ops::dense_chain::{
    add_row, constant, decode, epilogue, fuse_chains, initializer, weight_rows, Constant, Epilogue,
};
use crate::ops::expansion::F32Expansion;
use crate::ops::fake_quantize::{grid_attributes, grid_of};

use std::sync::Arc;

use wasm_predict_kernels::quantized;

/// Op type of [`QuantizedDense`] in rewritten graphs.
pub const QUANTIZED_DENSE: &str = "WasmPredictQuantizedDense";

pub use wasm_predict_kernels::quantized::{InputGrid, QuantizedWeight, MAX_DEPTH};

/// The op; see the module documentation. Its arithmetic is the kernel's
/// ([`wasm_predict_kernels::quantized::QuantizedDense`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedDense(Arc<quantized::QuantizedDense>);

impl Eq for QuantizedDense {}

impl QuantizedDense {
    /// The op for a centred weight `[k, m]` (row-major), its per-column scales (length `m`, or 1
    /// for a per-tensor scale), a bias of length `m` (or empty), and whether a Relu follows.
    pub fn new(stored: QuantizedWeight) -> tract_onnx::prelude::TractResult<QuantizedDense> {
        quantized::QuantizedDense::try_from(stored)
            .map(|kernel| QuantizedDense(Arc::new(kernel)))
            .map_err(|e| format_err!("{QUANTIZED_DENSE}: {e}"))
    }

    /// The kernel, shared.
    pub fn kernel(&self) -> Arc<quantized::QuantizedDense> {
        Arc::clone(&self.0)
    }

    /// Computes `rows` rows of `k` values into `rows * m` outputs.
    pub fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.0.apply(x, rows)
    }
}

impl std::hash::Hash for QuantizedDense {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.0.depth(), self.0.columns(), self.0.relu(), self.0.weight()).hash(state);
    }
}

impl Op for QuantizedDense {
    fn name(&self) -> StaticName {
        QUANTIZED_DENSE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} int weight, {:?}, relu: {}",
            self.0.depth(),
            self.0.columns(),
            self.0.input(),
            self.0.relu()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QuantizedDense {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        ensure!(
            shape.last() == Some(&self.0.depth()),
            "{QUANTIZED_DENSE}: input shape {shape:?}, expected a last dimension of {}",
            self.0.depth()
        );
        let plain = input.try_as_plain_ram()?;
        let x = plain.as_slice::<f32>()?;
        let rows = x.len() / self.0.depth();
        let mut out_shape = shape;
        if let Some(last) = out_shape.last_mut() {
            *last = self.0.columns();
        }
        let out = tract_ndarray::ArrayD::from_shape_vec(out_shape, self.apply(x, rows))?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for QuantizedDense {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        match shape.last_mut() {
            Some(last) => *last = self.0.columns().to_dim(),
            None => bail!("{QUANTIZED_DENSE} needs an input of rank 1 or more"),
        }
        Ok(tvec!(f32::fact(shape)))
    }
}

fn required_attribute<'a>(node: &'a NodeProto, name: &str) -> TractResult<&'a tract_onnx::pb::AttributeProto> {
    crate::graph_edit::attribute(node, name)
        .ok_or_else(|| format_err!("{QUANTIZED_DENSE} node {:?} lacks attribute {name}", node.name))
}

/// Reads the op from the node [`fuse_quantized_dense`] writes.
fn from_node(node: &NodeProto) -> tract_onnx::prelude::TractResult<QuantizedDense> {
    let input = if required_attribute(node, "dynamic")?.i != 0 {
        InputGrid::Dynamic
    } else {
        InputGrid::Fixed(grid_of(node)?)
    };
    let weight = required_attribute(node, "weight")?
        .t
        .as_ref()
        .ok_or_else(|| format_err!("{QUANTIZED_DENSE} node {:?}: weight is not a tensor", node.name))?;
    let [k, m] = weight.dims[..] else {
        bail!("{QUANTIZED_DENSE} node {:?}: weight dims {:?}", node.name, weight.dims);
    };
    QuantizedDense::new(QuantizedWeight {
        input,
        k: usize::try_from(k)?,
        m: usize::try_from(m)?,
        weight: weight.int32_data.clone(),
        weight_scale: required_attribute(node, "weight_scale")?.floats.clone(),
        bias: required_attribute(node, "bias")?.floats.clone(),
        relu: required_attribute(node, "relu")?.i != 0,
    })
}

/// Adds [`QuantizedDense`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(QUANTIZED_DENSE, |_, node| {
        Ok((
            {
                let op = from_node(node)?;
                expand(F32Expansion {
                    name: QUANTIZED_DENSE,
                    last_axis: Some(op.0.columns()),
                    op,
                })
            },
            vec![],
        ))
    });
}

/// A constant integer weight: values minus their zero point, and the scale along `axis` (or one).
struct IntegerWeight {
    dims: [usize; 2],
    centred: Vec<i32>,
    scale: Vec<f32>,
    axis: Option<usize>,
}

/// Replaces every chain it can; leaves the others as they are.
pub fn fuse_quantized_dense(graph: &mut GraphProto) {
    fuse_chains(graph, chain_at);
}

/// For a rounding at `q`: the nodes to remove, where the fused node goes, and the fused node.
fn chain_at(graph: &GraphProto, q: usize) -> Option<(HashSet<usize>, usize, NodeProto)> {
    let quantize = &graph.node[q];
    let input = match quantize.op_type.as_str() {
        crate::ops::fake_quantize::FAKE_QUANTIZE => InputGrid::Fixed(grid_of(quantize).ok()?),
        crate::ops::fake_quantize::DYNAMIC_FAKE_QUANTIZE => InputGrid::Dynamic,
        _ => return None,
    };
    chain_from(graph, q, input)
}

fn chain_from(graph: &GraphProto, q: usize, input: InputGrid) -> Option<(HashSet<usize>, usize, NodeProto)> {
    let mut remove = HashSet::from([q]);
    let mut tensor = graph.node[q].output.first()?.clone();
    let mut p = only_reader(graph, &tensor)?;
    while is_standard(&graph.node[p], "Identity") {
        remove.insert(p);
        tensor = graph.node[p].output.first()?.clone();
        p = only_reader(graph, &tensor)?;
    }
    let product = &graph.node[p];
    let gemm = is_standard(product, "Gemm");
    if !(gemm || is_standard(product, "MatMul")) || product.input.first() != Some(&tensor) || product.output.len() != 1
    {
        return None;
    }
    let int_attr = |name: &str, default: i64| attribute(product, name).map_or(default, |a| a.i);
    let float_attr = |name: &str| attribute(product, name).map_or(1.0, |a| a.f);
    if gemm && (int_attr("transA", 0) != 0 || float_attr("alpha") != 1.0 || float_attr("beta") != 1.0) {
        return None;
    }
    let transposed = gemm && int_attr("transB", 0) != 0;
    let weight = integer_weight(graph, product.input.get(1)?)?;
    let (k, m) = if transposed {
        (weight.dims[1], weight.dims[0])
    } else {
        (weight.dims[0], weight.dims[1])
    };
    let column_axis = if transposed { 0 } else { 1 };
    if weight.axis.is_some_and(|a| a != column_axis) {
        return None;
    }
    let centred = weight_rows(&weight.centred, k, m, transposed);
    let mut bias = vec![0f32; m];
    if gemm {
        if let Some(c) = product.input.get(2).filter(|c| !c.is_empty()) {
            add_row(&mut bias, &constant(graph, c, 0)?)?;
        }
    }
    remove.insert(p);
    let Epilogue { last, output, relu } = epilogue(graph, p, |c| add_row(&mut bias, c), &mut remove)?;
    // Checks every parameter the op will; a chain it would refuse stays as it is.
    QuantizedDense::new(QuantizedWeight {
        input,
        k,
        m,
        weight: centred.clone(),
        weight_scale: weight.scale.clone(),
        bias: bias.clone(),
        relu,
    })
    .ok()?;
    let mut attributes = vec![
        tensor_attribute(TensorProto {
            name: "weight".into(),
            dims: vec![k as i64, m as i64],
            data_type: DataType::Int32 as i32,
            int32_data: centred,
            ..Default::default()
        }),
        floats_attribute("weight_scale", weight.scale),
        floats_attribute("bias", bias),
        int_attribute("relu", relu as i64),
        int_attribute("dynamic", matches!(input, InputGrid::Dynamic) as i64),
    ];
    if let InputGrid::Fixed(grid) = input {
        attributes.extend(grid_attributes(grid));
    }
    let node = NodeProto {
        input: vec![graph.node[q].input.first()?.clone()],
        output: vec![output.clone()],
        name: format!("{output}__wasm_predict_quantized_dense"),
        op_type: QUANTIZED_DENSE.into(),
        domain: DOMAIN.into(),
        attribute: attributes,
        ..Default::default()
    };
    Some((remove, last, node))
}

/// A weight that is a constant of 8-bit integers times a scale: `DequantizeLinear(W, s, zp)`, or
/// `Mul(Cast(W) [- Cast(zp)], s)` (what dynamic quantization leaves).
fn integer_weight(graph: &GraphProto, name: &str) -> Option<IntegerWeight> {
    let producer = graph
        .node
        .iter()
        .find(|n| n.output.first().is_some_and(|o| o == name))?;
    let (ints, scale, axis) = if is_standard(producer, "DequantizeLinear") {
        if attribute(producer, "block_size").is_some_and(|a| a.i != 0) {
            return None;
        }
        let x = initializer(graph, producer.input.first()?)?;
        if ![DataType::Int8 as i32, DataType::Uint8 as i32].contains(&x.data_type) {
            return None;
        }
        let x = decode(x)?;
        let scale = constant(graph, producer.input.get(1)?, 0)?;
        let zp = match producer.input.get(2).filter(|z| !z.is_empty()) {
            Some(z) => constant(graph, z, 0)?,
            None => Constant {
                dims: vec![],
                values: vec![0.0],
            },
        };
        if x.dims.len() != 2 || zp.values.len() != scale.values.len() {
            return None;
        }
        let axis = match scale.values.len() {
            1 => None,
            n => {
                let a = attribute(producer, "axis").map_or(1, |a| a.i);
                let a = usize::try_from(if a < 0 { a + 2 } else { a }).ok().filter(|&a| a < 2)?;
                (x.dims[a] == n).then_some(a)?;
                Some(a)
            }
        };
        let channel = |i: usize| match axis {
            None => 0,
            Some(0) => i / x.dims[1],
            Some(_) => i % x.dims[1],
        };
        let ints = x
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| v - zp.values[channel(i)])
            .collect::<Vec<f32>>();
        (
            Constant {
                dims: x.dims,
                values: ints,
            },
            scale.values,
            axis,
        )
    } else if is_standard(producer, "Mul") && producer.input.len() == 2 {
        let [a, b] = [&producer.input[0], &producer.input[1]].map(|n| constant(graph, n, 0));
        let (ints, scale) = match (a, b) {
            (Some(a), Some(b)) if all_integers(&a) => (a, b),
            (Some(a), Some(b)) if all_integers(&b) => (b, a),
            _ => return None,
        };
        if ints.dims.len() != 2 {
            return None;
        }
        let per_column = scale.values.len() == ints.dims[1] && scale.dims.iter().rev().skip(1).all(|&d| d == 1);
        let axis = match scale.values.len() {
            1 => None,
            _ if per_column => Some(1),
            _ => return None,
        };
        (ints, scale.values, axis)
    } else {
        return None;
    };
    if !all_integers(&ints) || scale.iter().any(|s| !s.is_finite() || *s == 0.0) {
        return None;
    }
    Some(IntegerWeight {
        dims: [ints.dims[0], ints.dims[1]],
        centred: ints.values.iter().map(|&v| v as i32).collect(),
        scale,
        axis,
    })
}

fn all_integers(c: &Constant) -> bool {
    c.values.iter().all(|v| v.fract() == 0.0 && v.abs() <= 255.0)
}

#[cfg(test)]
mod tests {
    use super::{InputGrid, QuantizedDense, QuantizedWeight};

    /// A 2 × 2 op without bias or Relu.
    fn two_by_two(
        input: InputGrid,
        weight: Vec<i32>,
        weight_scale: Vec<f32>,
    ) -> tract_onnx::prelude::TractResult<QuantizedDense> {
        QuantizedDense::new(QuantizedWeight {
            input,
            k: 2,
            m: 2,
            weight,
            weight_scale,
            bias: vec![],
            relu: false,
        })
    }
    use crate::ops::fake_quantize::FakeQuantize;
    use wasm_predict_kernels::Grid;

    /// The float computation the op replaces: round the input to its grid, dequantize the
    /// weight, multiply in f64, add the bias, Relu.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        op_input: InputGrid,
        x: &[f32],
        k: usize,
        m: usize,
        w: &[i32],
        ws: &[f32],
        bias: &[f32],
        relu: bool,
    ) -> Vec<f64> {
        let mut xq = x.to_vec();
        match op_input {
            InputGrid::Fixed(grid) => FakeQuantize::new(grid).apply(&mut xq),
            InputGrid::Dynamic => crate::ops::fake_quantize::DynamicFakeQuantize::apply(&mut xq),
        }
        let rows = x.len() / k;
        let mut out = vec![];
        for r in 0..rows {
            for c in 0..m {
                let mut v: f64 = (0..k)
                    .map(|d| xq[r * k + d] as f64 * w[d * m + c] as f64 * ws[c] as f64)
                    .sum();
                v += bias[c] as f64;
                out.push(if relu { v.max(0.0) } else { v });
            }
        }
        out
    }

    fn case(input: InputGrid, k: usize, m: usize, rows: usize, relu: bool) {
        let w: Vec<i32> = (0..k * m).map(|i| ((i * 37 + 11) % 255) as i32 - 127).collect();
        let ws: Vec<f32> = (0..m).map(|c| 0.001 + c as f32 * 1e-4).collect();
        let bias: Vec<f32> = (0..m).map(|c| c as f32 * 0.01 - 0.05).collect();
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919) % 301) as f32 * 0.013 - 0.9).collect();
        let op = QuantizedDense::new(QuantizedWeight {
            input,
            k,
            m,
            weight: w.clone(),
            weight_scale: ws.clone(),
            bias: bias.clone(),
            relu,
        })
        .unwrap();
        let got = op.apply(&x, rows);
        let want = reference(input, &x, k, m, &w, &ws, &bias, relu);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{k}x{m} row {} col {}: {g} vs {w}",
                i / m,
                i % m
            );
        }
    }

    #[test]
    fn integer_products_equal_the_float_computation_they_replace() {
        let u8_grid = InputGrid::Fixed(Grid {
            scale: 0.02,
            zero_point: 45.0,
            low: 0.0,
            high: 255.0,
        });
        let s8_grid = InputGrid::Fixed(Grid {
            scale: 0.01,
            zero_point: -3.0,
            low: -128.0,
            high: 127.0,
        });
        for (k, m) in [(64, 64), (64, 10), (3, 1), (9, 17), (130, 33)] {
            for rows in [1, 5] {
                case(u8_grid, k, m, rows, false);
                case(s8_grid, k, m, rows, true);
                case(InputGrid::Dynamic, k, m, rows, rows == 1);
            }
        }
    }

    #[test]
    fn bad_parameters_are_errors_not_panics() {
        let grid = InputGrid::Fixed(Grid {
            scale: 0.1,
            zero_point: 0.0,
            low: 0.0,
            high: 255.0,
        });
        assert!(two_by_two(grid, vec![1; 3], vec![1.0]).is_err());
        assert!(two_by_two(grid, vec![300; 4], vec![1.0]).is_err());
        assert!(two_by_two(grid, vec![1; 4], vec![1.0; 3]).is_err());
        let wide = InputGrid::Fixed(Grid {
            scale: 0.1,
            zero_point: 0.0,
            low: -32768.0,
            high: 32767.0,
        });
        assert!(two_by_two(wide, vec![1; 4], vec![1.0]).is_err());
        let zero = InputGrid::Fixed(Grid {
            scale: 0.0,
            zero_point: 0.0,
            low: 0.0,
            high: 255.0,
        });
        assert!(two_by_two(zero, vec![1; 4], vec![1.0]).is_err());
    }

    #[test]
    fn a_dynamic_grid_of_zeros_gives_the_bias_and_an_infinite_range_gives_nan() {
        let op = QuantizedDense::new(QuantizedWeight {
            input: InputGrid::Dynamic,
            k: 2,
            m: 2,
            weight: vec![1, 2, 3, 4],
            weight_scale: vec![0.5],
            bias: vec![1.0, -1.0],
            relu: false,
        })
        .unwrap();
        assert_eq!(op.apply(&[0.0, 0.0], 1), vec![1.0, -1.0]);
        assert!(op.apply(&[f32::INFINITY, 0.0], 1).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn a_rounding_times_an_int8_weight_plus_bias_fuses_into_one_node() {
        use super::{fuse_quantized_dense, QUANTIZED_DENSE};
        use crate::ops::fake_quantize::{grid_attributes, FAKE_QUANTIZE};
        use crate::test_graph::{floats, graph, node, node_in, ops};
        let grid = Grid {
            scale: 0.05,
            zero_point: 128.0,
            low: 0.0,
            high: 255.0,
        };
        let weight = tract_onnx::pb::TensorProto {
            name: "w".into(),
            dims: vec![2, 3],
            data_type: tract_onnx::pb::tensor_proto::DataType::Int8 as i32,
            int32_data: vec![1, -2, 3, -4, 5, -6],
            ..Default::default()
        };
        let mut g = graph(
            vec![
                node_in(
                    crate::graph_edit::DOMAIN,
                    FAKE_QUANTIZE,
                    &["x"],
                    "q",
                    grid_attributes(grid).into(),
                ),
                node("DequantizeLinear", &["w", "w_s"], "wf"),
                node("MatMul", &["q", "wf"], "h"),
                node("Add", &["h", "b"], "y"),
            ],
            vec![weight, floats("w_s", &[], &[0.1]), floats("b", &[3], &[0.5, 0.0, -0.5])],
            &[1, 2],
        );
        fuse_quantized_dense(&mut g);
        assert_eq!(ops(&g), [QUANTIZED_DENSE]);
        assert_eq!(g.node[0].input, ["x"]);
        assert_eq!(g.node[0].output, ["y"]);
    }
}

//! `FloatDense`: a float product by a constant weight, with the bias and the Relu that follow,
//! on our wasm kernel ([`wasm_predict_kernels::dense_f32`]) instead of tract's, whose 8 × 8 f32x4
//! tile spills registers under V8 and runs about 2× behind onnxruntime-web's on batches.
//!
//! [`fuse_float_dense`] puts it where a graph has `MatMul|Gemm` over a constant weight (a float
//! initializer, or one computed from constants, such as a dequantized int8 weight), plus the bias
//! `Add` and `Relu` that may follow. The op multiplies along the input's last axis, which is what
//! `MatMul` does with a two-dimensional weight for any rank of input.

use std::collections::HashSet;
use std::sync::Arc;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;
use wasm_predict_kernels::dense_f32::PackedF32;

use crate::graph_edit::{attribute, floats_attribute, int_attribute, is_standard, tensor_attribute, DOMAIN};
use crate::ops::dense_chain::{add_row, constant, epilogue, fuse_chains, initializer, weight_rows, Epilogue};
use crate::ops::expansion::F32Expansion;

/// Op type of [`FloatDense`] in rewritten graphs.
pub const FLOAT_DENSE: &str = "WasmPredictFloatDense";

/// The op; see the module documentation.
#[derive(Debug, Clone)]
pub struct FloatDense {
    packed: Arc<PackedF32>,
}

impl PartialEq for FloatDense {
    fn eq(&self, other: &Self) -> bool {
        self.packed == other.packed
    }
}

impl Eq for FloatDense {}

impl std::hash::Hash for FloatDense {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.packed.k(), self.packed.m()).hash(state);
    }
}

impl FloatDense {
    /// The packed weight, with its bias and Relu.
    pub fn packed(&self) -> Arc<PackedF32> {
        Arc::clone(&self.packed)
    }
}

impl Op for FloatDense {
    fn name(&self) -> StaticName {
        FLOAT_DENSE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{}x{} float weight", self.packed.k(), self.packed.m())])
    }

    op_as_typed_op!();
}

impl EvalOp for FloatDense {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (k, m) = (self.packed.k(), self.packed.m());
        let mut shape = input.shape().to_vec();
        ensure!(
            shape.last() == Some(&k),
            "{FLOAT_DENSE}: input shape {shape:?}, expected a last dimension of {k}"
        );
        let plain = input.try_as_plain_ram()?;
        let x = plain.as_slice::<f32>()?;
        let rows = x.len().checked_div(k).unwrap_or(0);
        if let Some(last) = shape.last_mut() {
            *last = m;
        }
        let out = tract_ndarray::ArrayD::from_shape_vec(shape, self.packed.apply(x, rows))?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for FloatDense {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        match shape.last_mut() {
            Some(last) => *last = self.packed.m().to_dim(),
            None => bail!("{FLOAT_DENSE} needs an input of rank 1 or more"),
        }
        Ok(tvec!(f32::fact(shape)))
    }
}

/// Reads the op from the node [`fuse_float_dense`] writes.
fn from_node(node: &NodeProto) -> TractResult<FloatDense> {
    let weight = attribute(node, "weight")
        .and_then(|a| a.t.as_ref())
        .ok_or_else(|| format_err!("{FLOAT_DENSE} node {:?} lacks its weight", node.name))?;
    let [k, m] = weight.dims[..] else {
        bail!("{FLOAT_DENSE} node {:?}: weight dims {:?}", node.name, weight.dims);
    };
    let (k, m) = (usize::try_from(k)?, usize::try_from(m)?);
    ensure!(
        weight.float_data.len() == k * m,
        "{FLOAT_DENSE} node {:?}: {} weights for {k}x{m}",
        node.name,
        weight.float_data.len()
    );
    let bias = attribute(node, "bias").map(|a| a.floats.clone()).unwrap_or_default();
    ensure!(
        bias.is_empty() || bias.len() == m,
        "{FLOAT_DENSE} node {:?}: {} biases for {m} columns",
        node.name,
        bias.len()
    );
    let relu = attribute(node, "relu").is_some_and(|a| a.i != 0);
    Ok(FloatDense {
        packed: Arc::new(PackedF32::new(&weight.float_data, k, m, &bias, relu)),
    })
}

/// Adds [`FloatDense`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(FLOAT_DENSE, |_, node| {
        let op = from_node(node)?;
        let m = op.packed.m();
        Ok((
            expand(F32Expansion {
                name: FLOAT_DENSE,
                last_axis: Some(m),
                op,
            }),
            vec![],
        ))
    });
}

/// Replaces every `MatMul|Gemm` over a constant weight (with its bias `Add` and `Relu`) by one
/// [`FloatDense`] node; leaves the others as they are.
pub fn fuse_float_dense(graph: &mut GraphProto) {
    fuse_chains(graph, chain_at);
}

/// For the product at `p`: the nodes to remove, where the fused node goes, and the fused node.
fn chain_at(graph: &GraphProto, p: usize) -> Option<(HashSet<usize>, usize, NodeProto)> {
    let product = &graph.node[p];
    let gemm = is_standard(product, "Gemm");
    if !(gemm || is_standard(product, "MatMul")) || product.input.len() < 2 || product.output.len() != 1 {
        return None;
    }
    let int_attr = |name: &str, default: i64| attribute(product, name).map_or(default, |a| a.i);
    let float_attr = |name: &str| attribute(product, name).map_or(1.0, |a| a.f);
    if gemm && int_attr("transA", 0) != 0 {
        return None;
    }
    if !is_float(graph, &product.input[1], 0) {
        return None;
    }
    let weight = constant(graph, &product.input[1], 0)?;
    let [rows, columns] = weight.dims[..] else {
        return None;
    };
    let transposed = gemm && int_attr("transB", 0) != 0;
    let (k, m) = if transposed { (columns, rows) } else { (rows, columns) };
    let alpha = if gemm { float_attr("alpha") } else { 1.0 };
    let mut values = weight_rows(&weight.values, k, m, transposed);
    values.iter_mut().for_each(|v| *v *= alpha);
    let mut bias = vec![0f32; m];
    if gemm {
        if let Some(c) = product.input.get(2).filter(|c| !c.is_empty()) {
            let mut c = constant(graph, c, 0)?;
            let beta = float_attr("beta");
            c.values.iter_mut().for_each(|v| *v *= beta);
            add_row(&mut bias, &c)?;
        }
    }
    let mut remove = HashSet::from([p]);
    let Epilogue { last, output, relu } = epilogue(graph, p, |c| add_row(&mut bias, c), &mut remove)?;
    let node = NodeProto {
        input: vec![product.input[0].clone()],
        output: vec![output.clone()],
        name: format!("{output}__wasm_predict_float_dense"),
        op_type: FLOAT_DENSE.into(),
        domain: DOMAIN.into(),
        attribute: vec![
            tensor_attribute(TensorProto {
                name: "weight".into(),
                dims: vec![k as i64, m as i64],
                data_type: DataType::Float as i32,
                float_data: values,
                ..Default::default()
            }),
            floats_attribute("bias", bias),
            int_attribute("relu", i64::from(relu)),
        ],
        ..Default::default()
    };
    Some((remove, last, node))
}

/// Whether the tensor `name` is float: a float initializer, a dequantized or cast-to-float value,
/// or `Identity`/`Mul`/`Sub`/`Add` of a float one (an integer product stays tract's).
pub(crate) fn is_float(graph: &GraphProto, name: &str, depth: usize) -> bool {
    if let Some(t) = initializer(graph, name) {
        return t.data_type == DataType::Float as i32;
    }
    let Some(node) = graph.node.iter().find(|n| n.output.first().is_some_and(|o| o == name)) else {
        return false;
    };
    match node.op_type.as_str() {
        "DequantizeLinear" => true,
        "Cast" => attribute(node, "to").is_some_and(|a| a.i == DataType::Float as i64),
        "Identity" | "Mul" | "Sub" | "Add" if depth < 8 => {
            node.input.first().is_some_and(|i| is_float(graph, i, depth + 1))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

    use super::{fuse_float_dense, FLOAT_DENSE};

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn floats(name: &str, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: (0..dims.iter().product::<i64>()).map(|i| i as f32).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn matmul_add_relu_over_constants_becomes_one_node_and_a_variable_weight_stays() {
        let mut graph = GraphProto {
            node: vec![
                node("MatMul", &["x", "w"], "h"),
                node("Add", &["h", "b"], "a"),
                node("Relu", &["a"], "r"),
                node("MatMul", &["r", "r"], "y"),
            ],
            initializer: vec![floats("w", &[3, 2]), floats("b", &[2])],
            output: vec![tract_onnx::pb::ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        fuse_float_dense(&mut graph);
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, [FLOAT_DENSE, "MatMul"]);
        assert_eq!(graph.node[0].input, ["x"]);
        assert_eq!(graph.node[0].output, ["r"]);
    }
}

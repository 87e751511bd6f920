//! `FloatConv`: a two-dimensional `Conv` by a constant weight, with its bias and the Relu that
//! follow, on our wasm kernel ([`wasm_predict_kernels::conv_f32`]: each tap's values read from a
//! zero-padded copy of the image, or gathered at strides above 1, times the weight on a 4-channel
//! × 8-pixel tile) instead of tract's, whose convolution ran a LeNet-size batch about 3× behind
//! onnxruntime-web's.
//!
//! [`fuse_float_conv`] puts it where a graph has a `Conv` of one group over a 4-D input whose
//! weight is a float constant (an initializer, or one computed from constants such as a
//! dequantized int8 weight), with any strides, dilations and padding (`pads`, `VALID`,
//! `SAME_UPPER`, `SAME_LOWER`); other convolutions stay tract's.

use std::collections::HashSet;
use std::sync::Arc;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;
use wasm_predict_kernels::conv_f32::PackedConv;

use crate::graph_edit::{attribute, floats_attribute, int_attribute, is_standard};
use crate::graph_edit::{tensor_attribute, DOMAIN};
use crate::ops::dense_chain::{constant, epilogue, fuse_chains, Constant, Epilogue};
use crate::ops::expansion::WindowExpansion;
use crate::ops::float_dense::is_float;
use crate::ops::window::{geometry_of, output_shape, window_attributes};

/// Op type of [`FloatConv`] in rewritten graphs.
pub const FLOAT_CONV: &str = "WasmPredictFloatConv";

/// The op; see the module documentation.
#[derive(Debug, Clone)]
pub struct FloatConv {
    packed: Arc<PackedConv>,
}

impl PartialEq for FloatConv {
    fn eq(&self, other: &Self) -> bool {
        self.packed == other.packed
    }
}

impl Eq for FloatConv {}

impl std::hash::Hash for FloatConv {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (
            self.packed.channels(),
            self.packed.out_channels(),
            self.packed.geometry().kernel,
        )
            .hash(state);
    }
}

impl FloatConv {
    /// The packed weight, with its bias, Relu and geometry.
    pub fn packed(&self) -> Arc<PackedConv> {
        Arc::clone(&self.packed)
    }

    fn output_shape<D: DimLike>(&self, input: &[D]) -> TractResult<TVec<D>> {
        let channels = (self.packed.channels(), self.packed.out_channels());
        output_shape(FLOAT_CONV, input, Some(channels), self.packed.geometry())
    }
}

impl Op for FloatConv {
    fn name(&self) -> StaticName {
        FLOAT_CONV.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = self.packed.geometry();
        Ok(vec![format!(
            "{} -> {} channels, kernel {:?}, strides {:?}, dilations {:?}, {:?}",
            self.packed.channels(),
            self.packed.out_channels(),
            g.kernel,
            g.strides,
            g.dilations,
            g.padding
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for FloatConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        let output_shape = self.output_shape(&shape)?;
        let [n, _, h, w] = shape[..] else {
            bail!("{FLOAT_CONV}: input shape {shape:?}");
        };
        let plain = input.try_as_plain_ram()?;
        let values = self
            .packed
            .apply(plain.as_slice::<f32>()?, n, h, w)
            .ok_or_else(|| format_err!("{FLOAT_CONV}: the kernel does not fit an input of shape {shape:?}"))?;
        let out = tract_ndarray::ArrayD::from_shape_vec(output_shape.to_vec(), values)?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for FloatConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        Ok(tvec!(f32::fact(self.output_shape(&shape)?)))
    }
}

/// Reads the op from the node [`fuse_float_conv`] writes.
fn from_node(node: &NodeProto) -> TractResult<FloatConv> {
    let weight = attribute(node, "weight")
        .and_then(|a| a.t.as_ref())
        .ok_or_else(|| format_err!("{FLOAT_CONV} node {:?} lacks its weight", node.name))?;
    let dims: Vec<usize> = weight
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()?;
    let [oc, c, kh, kw] = dims[..] else {
        bail!("{FLOAT_CONV} node {:?}: weight dims {:?}", node.name, weight.dims);
    };
    let geometry = geometry_of(FLOAT_CONV, node)?;
    let bias = attribute(node, "bias").map(|a| a.floats.clone()).unwrap_or_default();
    let relu = attribute(node, "relu").is_some_and(|a| a.i != 0);
    let packed = PackedConv::new(&weight.float_data, [oc, c, kh, kw], &bias, relu, geometry)
        .ok_or_else(|| format_err!("{FLOAT_CONV} node {:?}: weight, bias or kernel do not agree", node.name))?;
    Ok(FloatConv {
        packed: Arc::new(packed),
    })
}

/// Adds [`FloatConv`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(FLOAT_CONV, |_, node| {
        let expansion = WindowExpansion {
            op: from_node(node)?,
            name: FLOAT_CONV,
            shape: |op, input| op.output_shape(input),
        };
        Ok((expand(expansion), vec![]))
    });
}

/// Replaces every two-dimensional, one-group `Conv` over a constant float weight (with the
/// per-channel bias `Add` and the `Relu` after it) by one [`FloatConv`] node; leaves the others as they are.
pub fn fuse_float_conv(graph: &mut GraphProto) {
    fuse_chains(graph, chain_at);
}

/// For the `Conv` at `p`: the nodes to remove, where the fused node goes, and the fused node.
fn chain_at(graph: &GraphProto, p: usize) -> Option<(HashSet<usize>, usize, NodeProto)> {
    let conv = &graph.node[p];
    if !is_standard(conv, "Conv") || conv.input.len() < 2 || conv.output.len() != 1 {
        return None;
    }
    if attribute(conv, "group").is_some_and(|a| a.i != 1) || !is_float(graph, &conv.input[1], 0) {
        return None;
    }
    let weight = constant(graph, &conv.input[1], 0)?;
    let [oc, _, kh, kw] = weight.dims[..] else {
        return None;
    };
    let window = window_attributes(conv, [kh, kw])?;
    let mut bias = vec![0f32; oc];
    if let Some(b) = conv.input.get(2).filter(|b| !b.is_empty()) {
        let b = constant(graph, b, 0)?;
        if b.values.len() != oc {
            return None;
        }
        bias.copy_from_slice(&b.values);
    }
    let mut remove = HashSet::from([p]);
    let Epilogue { last, output, relu } = epilogue(graph, p, |c| add_per_channel(&mut bias, c), &mut remove)?;
    let node = NodeProto {
        input: vec![conv.input[0].clone()],
        output: vec![output.clone()],
        name: format!("{output}__wasm_predict_float_conv"),
        op_type: FLOAT_CONV.into(),
        domain: DOMAIN.into(),
        attribute: vec![
            tensor_attribute(TensorProto {
                name: "weight".into(),
                dims: weight.dims.iter().map(|&d| d as i64).collect(),
                data_type: DataType::Float as i32,
                float_data: weight.values,
                ..Default::default()
            }),
            floats_attribute("bias", bias),
            int_attribute("relu", i64::from(relu)),
        ]
        .into_iter()
        .chain(window)
        .collect(),
        ..Default::default()
    };
    Some((remove, last, node))
}

/// Adds a constant to the per-channel bias: one value, or one per channel laid along the
/// channel axis of the NCHW output (`[C, 1, 1]`, `[1, C, 1, 1]`).
fn add_per_channel(bias: &mut [f32], c: &Constant) -> Option<()> {
    match c.values.len() {
        1 if c.dims.len() <= 4 => bias.iter_mut().for_each(|b| *b += c.values[0]),
        n if n == bias.len() && (3..=4).contains(&c.dims.len()) => {
            let padded: Vec<usize> = std::iter::repeat_n(1, 4 - c.dims.len())
                .chain(c.dims.iter().copied())
                .collect();
            if padded[0] != 1 || padded[2] != 1 || padded[3] != 1 {
                return None;
            }
            bias.iter_mut().zip(&c.values).for_each(|(b, v)| *b += v);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto};

    use super::{fuse_float_conv, FLOAT_CONV};

    fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute,
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
    fn a_conv_and_its_relu_become_one_node_and_grouped_or_variable_weights_stay() {
        let group = crate::graph_edit::int_attribute("group", 2);
        let mut graph = GraphProto {
            node: vec![
                node("Conv", &["x", "w", "b"], "c0", vec![]),
                node("Reshape", &["b", "shape"], "b4", vec![]),
                node("Add", &["c0", "b4"], "c", vec![]),
                node("Relu", &["c"], "r", vec![]),
                node("Conv", &["r", "w2"], "g", vec![group]),
                node("Conv", &["g", "r"], "y", vec![]),
            ],
            initializer: vec![
                floats("w", &[4, 1, 3, 3]),
                floats("b", &[4]),
                floats("w2", &[4, 2, 1, 1]),
                crate::graph_edit::int64_vector("shape", vec![1, 4, 1, 1]),
            ],
            output: vec![ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        fuse_float_conv(&mut graph);
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, [FLOAT_CONV, "Conv", "Conv"]);
        assert_eq!(graph.node[0].input, ["x"]);
        assert_eq!(graph.node[0].output, ["r"]);
        let bias = &graph.node[0]
            .attribute
            .iter()
            .find(|a| a.name == "bias")
            .unwrap()
            .floats;
        assert_eq!(bias, &[0.0, 2.0, 4.0, 6.0], "the Conv's bias plus the reshaped one");
    }
}

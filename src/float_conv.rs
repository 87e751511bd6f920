//! `FloatConv`: a two-dimensional float convolution by constant filters, with its bias and the
//! Relu that may follow, as the product of each image's patches by the packed filters on our wasm
//! float tile ([`wasm_predict_kernels::dense_f32::PackedConv`]); tract's wasm convolution made a
//! LeNet-size CNN about 3× slower than onnxruntime-web per batch.
//!
//! [`fuse_float_conv`] puts it where a graph has a `Conv` (one group, NCHW, explicit or no
//! padding) over constant filters, plus the `Relu` that may follow.

use std::collections::HashSet;
use std::sync::Arc;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{attribute_proto, AttributeProto, GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;
use wasm_predict_kernels::dense_f32::{ConvShape, PackedConv};

use crate::fuse_dense::{constant, fuse_chains};
use crate::graph_edit::{attribute, floats_attribute, int_attribute, is_standard, only_reader, DOMAIN};

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
        (self.packed.shape(), self.packed.filters()).hash(state);
    }
}

impl FloatConv {
    /// The output shape `[n, filters, oh, ow]` for an input `[n, channels, h, w]`.
    fn output_shape(&self, input: &[TDim]) -> TractResult<TVec<TDim>> {
        let [n, c, h, w] = input else {
            bail!(
                "{FLOAT_CONV}: input of rank {}, expected [n, channels, height, width]",
                input.len()
            );
        };
        let shape = self.packed.shape();
        ensure!(
            c.to_usize().ok() == Some(shape.channels),
            "{FLOAT_CONV}: {c} input channels, the filters have {}",
            shape.channels
        );
        let Some([oh, ow]) = shape.output(h.to_usize()?, w.to_usize()?) else {
            bail!("{FLOAT_CONV}: a {:?} kernel does not fit a {h}x{w} input", shape.kernel);
        };
        Ok(tvec![
            n.clone(),
            self.packed.filters().to_dim(),
            oh.to_dim(),
            ow.to_dim()
        ])
    }
}

impl Op for FloatConv {
    fn name(&self) -> StaticName {
        FLOAT_CONV.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?}, {} filters",
            self.packed.shape(),
            self.packed.filters()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for FloatConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let &[n, _, h, w] = input.shape() else {
            bail!(
                "{FLOAT_CONV}: input shape {:?}, expected [n, channels, height, width]",
                input.shape()
            );
        };
        let plain = input.try_as_plain_ram()?;
        let Some((out, [oh, ow])) = self.packed.apply(plain.as_slice::<f32>()?, n, h, w) else {
            bail!("{FLOAT_CONV}: cannot convolve an input of shape {:?}", input.shape());
        };
        let out = tract_ndarray::ArrayD::from_shape_vec(vec![n, self.packed.filters(), oh, ow], out)?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for FloatConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        Ok(tvec!(f32::fact(self.output_shape(&input)?)))
    }
}

/// How tract's inference stage sees the op: `[n, channels, h, w]` in, `[n, filters, oh, ow]` out.
#[derive(Debug, Clone)]
struct FloatConvExpansion(FloatConv);

impl Expansion for FloatConvExpansion {
    fn name(&self) -> StaticName {
        FLOAT_CONV.into()
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.0.packed.filters().to_dim())?;
        let op = self.0.clone();
        s.given_2(&inputs[0].shape[2], &inputs[0].shape[3], move |s, h, w| {
            let shape = op.output_shape(&[1.to_dim(), op.packed.shape().channels.to_dim(), h, w])?;
            s.equals(&outputs[0].shape[2], shape[2].clone())?;
            s.equals(&outputs[0].shape[3], shape[3].clone())
        })
    }
}

/// Reads the op from the node [`fuse_float_conv`] writes.
fn from_node(node: &NodeProto) -> TractResult<FloatConv> {
    let filters = attribute(node, "filters")
        .and_then(|a| a.t.as_ref())
        .ok_or_else(|| format_err!("{FLOAT_CONV} node {:?} lacks its filters", node.name))?;
    let [m, c, kh, kw] = filters.dims[..] else {
        bail!("{FLOAT_CONV} node {:?}: filter dims {:?}", node.name, filters.dims);
    };
    let [m, c, kh, kw] = [m, c, kh, kw].map(|d| usize::try_from(d).unwrap_or(0));
    ensure!(
        m * c * kh * kw > 0 && filters.float_data.len() == m * c * kh * kw,
        "{FLOAT_CONV} node {:?}: {} values for filters {:?}",
        node.name,
        filters.float_data.len(),
        filters.dims
    );
    let pair = |name: &str| -> TractResult<[usize; 2]> {
        match attribute(node, name).map(|a| a.ints.as_slice()) {
            Some(&[a, b]) if a > 0 && b > 0 => Ok([a as usize, b as usize]),
            other => bail!("{FLOAT_CONV} node {:?}: {name} {other:?}", node.name),
        }
    };
    let pads = match attribute(node, "pads").map(|a| a.ints.as_slice()) {
        Some(&[t, l, b, r]) if [t, l, b, r].iter().all(|p| *p >= 0) => [t, l, b, r].map(|p| p as usize),
        other => bail!("{FLOAT_CONV} node {:?}: pads {other:?}", node.name),
    };
    let shape = ConvShape {
        channels: c,
        kernel: [kh, kw],
        strides: pair("strides")?,
        dilations: pair("dilations")?,
        pads,
    };
    let bias = attribute(node, "bias").map(|a| a.floats.clone()).unwrap_or_default();
    ensure!(
        bias.is_empty() || bias.len() == m,
        "{FLOAT_CONV} node {:?}: {} biases for {m} filters",
        node.name,
        bias.len()
    );
    let relu = attribute(node, "relu").is_some_and(|a| a.i != 0);
    Ok(FloatConv {
        packed: Arc::new(PackedConv::new(shape, &filters.float_data, m, &bias, relu)),
    })
}

/// Adds [`FloatConv`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(FLOAT_CONV, |_, node| {
        Ok((expand(FloatConvExpansion(from_node(node)?)), vec![]))
    });
}

/// Replaces every `Conv` it can (with its `Relu`) by one [`FloatConv`] node; leaves the others.
pub fn fuse_float_conv(graph: &mut GraphProto) {
    fuse_chains(graph, chain_at);
}

fn chain_at(graph: &GraphProto, at: usize) -> Option<(HashSet<usize>, usize, NodeProto)> {
    let conv = &graph.node[at];
    if !is_standard(conv, "Conv") || conv.input.len() < 2 || conv.output.len() != 1 {
        return None;
    }
    let ints = |name: &str| attribute(conv, name).map(|a| a.ints.clone());
    let auto_pad = attribute(conv, "auto_pad").map(|a| a.s.clone()).unwrap_or_default();
    if attribute(conv, "group").is_some_and(|a| a.i != 1) || !matches!(auto_pad.as_slice(), b"" | b"NOTSET" | b"VALID")
    {
        return None;
    }
    if !crate::float_dense::is_float(graph, &conv.input[1], 0) {
        return None;
    }
    let filters = constant(graph, &conv.input[1], 0)?;
    let &[m, _, kh, kw] = &filters.dims[..] else {
        return None;
    };
    if ints("kernel_shape").is_some_and(|k| k != [kh as i64, kw as i64]) {
        return None;
    }
    let mut bias = vec![];
    if let Some(b) = conv.input.get(2).filter(|b| !b.is_empty()) {
        let b = constant(graph, b, 0)?;
        if b.values.len() != m {
            return None;
        }
        bias = b.values;
    }
    let pads = if auto_pad == b"VALID" { None } else { ints("pads") }.unwrap_or(vec![0; 4]);
    let strides = ints("strides").unwrap_or(vec![1, 1]);
    let dilations = ints("dilations").unwrap_or(vec![1, 1]);
    if pads.len() != 4 || strides.len() != 2 || dilations.len() != 2 {
        return None;
    }
    let mut remove = HashSet::from([at]);
    let (mut last, mut output, mut relu) = (at, conv.output[0].clone(), false);
    if let Some(r) = only_reader(graph, &output).filter(|&r| is_standard(&graph.node[r], "Relu")) {
        remove.insert(r);
        last = r;
        output = graph.node[r].output.first()?.clone();
        relu = true;
    }
    let ints_attribute = |name: &str, ints: Vec<i64>| AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Ints as i32,
        ints,
        ..Default::default()
    };
    let node = NodeProto {
        input: vec![conv.input[0].clone()],
        output: vec![output.clone()],
        name: format!("{output}__wasm_predict_float_conv"),
        op_type: FLOAT_CONV.into(),
        domain: DOMAIN.into(),
        attribute: vec![
            AttributeProto {
                name: "filters".into(),
                r#type: attribute_proto::AttributeType::Tensor as i32,
                t: Some(TensorProto {
                    name: "filters".into(),
                    dims: filters.dims.iter().map(|d| *d as i64).collect(),
                    data_type: DataType::Float as i32,
                    float_data: filters.values,
                    ..Default::default()
                }),
                ..Default::default()
            },
            floats_attribute("bias", bias),
            int_attribute("relu", i64::from(relu)),
            ints_attribute("pads", pads),
            ints_attribute("strides", strides),
            ints_attribute("dilations", dilations),
        ],
        ..Default::default()
    };
    Some((remove, last, node))
}

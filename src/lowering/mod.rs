//! Rewrites of an ONNX graph before tract reads it, for ops tract lacks or gets wrong.
//!
//! Each rewrite replaces nodes by float ops that tract runs with its fast kernels:
//! - A per-tensor `QuantizeLinear` whose only consumers are matching `DequantizeLinear`s becomes
//!   one [`FakeQuantize`](crate::ops::fake_quantize::FakeQuantize): activations are rounded to the int8 grid
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
//!
//! One pass per file (the fusions that put our own ops in a graph live beside those ops, in
//! [`crate::ops`]); [`PASSES`] lists them all in the order they run.

use tract_onnx::pb::{GraphProto, ModelProto};

use crate::error::Result;
use crate::graph_edit::graph_mut;
use crate::ops::{fake_quantize, float_conv, float_dense, max_pool, quantized_dense, quantized_softmax};

mod identities;
mod ml_ops;
mod outputs;
mod qdq;
mod qlinear;
mod rewriter;
mod sink_quantizations;

pub use fake_quantize::{take_input_quantization, take_output_quantization};
pub use outputs::keep_outputs;

/// Whether [`lower`] computes products by constant weights with our kernels: quantized
/// activations by int8 weights in integers ([`crate::ops::quantized_dense::QuantizedDense`]),
/// other float products on our float tile ([`crate::ops::float_dense::FloatDense`]). In wasm
/// with SIMD, where both are faster than tract's; not natively, where tract's AVX2 float kernel
/// is faster.
pub const OWN_PRODUCTS: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

/// What a pass may depend on besides the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The model's opset of the default domain.
    pub opset: i64,
    /// Whether products by constant weights go to our kernels ([`OWN_PRODUCTS`] by default).
    pub own_products: bool,
}

/// One rewrite of the graph, with the name it is known by.
pub struct Pass {
    /// What the pass does, in a few words.
    pub name: &'static str,
    /// Rewrites the graph in place; a node it cannot rewrite is left as it is.
    pub run: fn(&mut GraphProto, &Target),
}

/// Every pass, in the order [`lower`] runs them. Roundings sink before the pairs fuse (so that a
/// pair split by a MaxPool meets) and again after (so that the fused roundings move past the ops
/// that only move values); our product and Softmax fusions need the fused roundings; the QDQ
/// nodes left over become float ops last.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "QOperator ops as dequantize, float op, quantize",
        run: |graph, _| qlinear::expand_qlinear_ops(graph),
    },
    Pass {
        name: "sink quantizations past ops that only move values",
        run: |graph, _| sink_quantizations::sink_quantizations(graph),
    },
    Pass {
        name: "dynamic quantization as DynamicFakeQuantize and a float product",
        run: |graph, _| fake_quantize::fuse_dynamic_quantization(graph),
    },
    Pass {
        name: "QuantizeLinear-DequantizeLinear pairs as FakeQuantize",
        run: |graph, _| fake_quantize::fuse_quantize_dequantize_pairs(graph),
    },
    Pass {
        name: "drop roundings of values already on their grid",
        run: |graph, _| fake_quantize::drop_repeated_fake_quantize(graph),
    },
    Pass {
        name: "bypass Identity nodes",
        run: |graph, _| identities::bypass_identities(graph),
    },
    Pass {
        name: "sink the fused roundings",
        run: |graph, _| sink_quantizations::sink_quantizations(graph),
    },
    Pass {
        name: "QuantizedDense: rounded rows times int8 weights in integers",
        run: |graph, target| {
            if target.own_products {
                quantized_dense::fuse_quantized_dense(graph);
            }
        },
    },
    Pass {
        name: "FloatDense: float products by constant weights on our tile",
        run: |graph, target| {
            if target.own_products {
                float_dense::fuse_float_dense(graph);
            }
        },
    },
    Pass {
        name: "FloatConv, MaxPool2d: convolutions by constant weights on our tile, and max pooling",
        run: |graph, target| {
            if target.own_products {
                float_conv::fuse_float_conv(graph);
                max_pool::fuse_max_pool(graph);
            }
        },
    },
    Pass {
        name: "QuantizedSoftmax: a Softmax of rounded logits from a table",
        run: |graph, target| quantized_softmax::fuse_quantized_softmax(graph, target.opset),
    },
    Pass {
        name: "QDQ and integer products left over as float ops",
        run: |graph, _| qdq::qdq_to_float(graph),
    },
    Pass {
        name: "ai.onnx.ml ops tract lacks as standard ops",
        run: |graph, target| ml_ops::ml_ops_to_standard(graph, target.opset),
    },
];

/// Applies every lowering to the graph, in place ([`lower_with`] for this target).
pub fn lower(model: &mut ModelProto) -> Result<()> {
    lower_with(model, OWN_PRODUCTS)
}

/// Applies every pass of [`PASSES`] to the graph, in order, in place, with or without our
/// product kernels.
pub fn lower_with(model: &mut ModelProto, own_products: bool) -> Result<()> {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);
    let target = Target { opset, own_products };
    let graph = graph_mut(model)?;
    for pass in PASSES {
        (pass.run)(graph, &target);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tract_onnx::pb::ModelProto;

    use super::{lower_with, PASSES};
    use crate::ops::fake_quantize::FAKE_QUANTIZE;
    use crate::test_graph::{ops, qdq_relu};

    #[test]
    fn every_pass_has_its_own_name() {
        let mut names: Vec<&str> = PASSES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PASSES.len());
    }

    #[test]
    fn a_qdq_graph_lowers_to_one_rounding_and_float_ops() {
        let mut model = ModelProto {
            graph: Some(qdq_relu(&[1, 4])),
            ..Default::default()
        };
        lower_with(&mut model, false).unwrap();
        assert_eq!(ops(model.graph.as_ref().unwrap()), [FAKE_QUANTIZE, "Relu"]);
    }
}

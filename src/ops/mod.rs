//! The ops we add to tract's ONNX register, one file each with the fusion that puts it in a graph
//! (called in order by [`crate::lowering::lower`]):
//! - [`fake_quantize`]: a rounding to an 8-bit grid in one pass (from QDQ pairs and dynamic
//!   quantization);
//! - [`quantized_dense`]: a quantized activation times an int8 weight, in integers (wasm);
//! - [`float_dense`]: a float product by a constant weight on our tile (wasm);
//! - [`float_conv`]: a convolution by a constant weight, as a product on the same tile (wasm);
//! - [`max_pool`]: a two-dimensional MaxPool (wasm);
//! - [`quantized_softmax`]: a Softmax of rounded logits from a 256-entry table;
//! - [`tree_ensemble`]: ONNX tree ensembles on our kernel, in place of tract's.
//!
//! [`dense_chain`] holds what the product fusions share, [`window`] what the window ops share,
//! [`expansion`] tract's inference-stage view of our one-input f32 ops.

use tract_onnx::Onnx;

pub mod dense_chain;
pub mod expansion;
pub mod fake_quantize;
pub mod float_conv;
pub mod float_dense;
pub mod max_pool;
pub mod quantized_dense;
pub mod quantized_softmax;
pub mod tree_ensemble;
pub mod window;

/// Adds every op of ours to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    fake_quantize::register(onnx);
    quantized_dense::register(onnx);
    float_dense::register(onnx);
    float_conv::register(onnx);
    max_pool::register(onnx);
    quantized_softmax::register(onnx);
    tree_ensemble::register(onnx);
}

//! wasm-predict: run versioned, quantized ONNX model bundles in the browser.
//!
//! The core is pure Rust: [`Manifest`] describes a bundle, [`Predictor`] loads one from bytes
//! and predicts, [`verify()`] runs its regression fixtures and performance requirement. The
//! WebAssembly bindings in `wasm.rs` are a thin layer over it.
//!
//! With the `onnx` feature (on by default) the crate reads ONNX models: it checks, lowers and
//! compiles them with tract. Without it, it loads bundles from their compiled plans
//! (`model.plan`) only, which is what the browser's default entry does: a fraction of the size.

pub mod batching;
pub mod default_bundle;
pub mod error;
pub mod fixtures;
pub mod hash;
pub mod memory;
pub mod plan_file;
pub mod prediction;
pub mod predictor;
pub mod verify;

#[cfg(feature = "onnx")]
pub mod calibrate;
#[cfg(feature = "onnx")]
pub mod check;
#[cfg(feature = "onnx")]
pub mod compile;
#[cfg(feature = "onnx")]
pub mod graph_edit;
#[cfg(feature = "onnx")]
pub mod lowering;
#[cfg(feature = "onnx")]
pub mod onnx;
#[cfg(feature = "onnx")]
pub mod ops;
#[cfg(feature = "onnx")]
pub mod records;
#[cfg(feature = "onnx")]
pub mod typing;

#[cfg(all(test, feature = "onnx"))]
mod test_graph;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(feature = "onnx")]
pub use check::{check_model, SupportReport};
pub use error::PredictError;
pub use manifest::Manifest;
pub use prediction::{BatchPrediction, Prediction};
pub use predictor::Predictor;
pub use verify::{verify, VerificationReport};
/// The kernels (their own crate, built at opt-level 3).
pub use wasm_predict_kernels as kernels;
/// The bundle format (its own crate: the collector reads manifests without the engine).
pub use wasm_predict_manifest as manifest;

//! wasm-predict: run versioned, quantized ONNX model bundles in the browser.
//!
//! The core is pure Rust: [`Manifest`] describes a bundle, [`Predictor`] loads one from bytes
//! and predicts, [`verify()`] runs its regression fixtures and performance requirement. The
//! WebAssembly bindings in `wasm.rs` are a thin layer over it.

pub mod calibrate;
pub mod check;
pub mod compile;
pub mod default_bundle;
pub mod error;
pub mod fixtures;
pub mod graph_edit;
pub mod lowering;
pub mod onnx;
pub mod ops;
pub mod plan_file;
pub mod prediction;
pub mod predictor;
pub mod records;
pub mod typing;
pub mod verify;

#[cfg(test)]
mod test_graph;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

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

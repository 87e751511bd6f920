//! The default model compiled into the package: the int8 digits classifier.

use crate::error::Result;
use crate::predictor::Predictor;

/// `manifest.json` of the embedded default bundle.
pub const MANIFEST: &[u8] = include_bytes!("../models/digits-mlp-int8/1.0.0/manifest.json");

/// `model.onnx` of the embedded default bundle.
pub const MODEL: &[u8] = include_bytes!("../models/digits-mlp-int8/1.0.0/model.onnx");

/// Loads the embedded default bundle, with every check a downloaded bundle gets.
pub fn load() -> Result<Predictor> {
    Predictor::load(MANIFEST, MODEL)
}

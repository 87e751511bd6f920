//! The default model compiled into the package: the int8 digits classifier, from its compiled
//! plan (so that every build, with or without the ONNX importer, loads it the same way).

use crate::error::Result;
use crate::predictor::Predictor;

/// `manifest.json` of the embedded default bundle.
pub const MANIFEST: &[u8] = include_bytes!("../models/digits-mlp-int8/1.0.0/manifest.json");

/// `model.plan` of the embedded default bundle.
pub const PLAN: &[u8] = include_bytes!("../models/digits-mlp-int8/1.0.0/model.plan");

/// Loads the embedded default bundle, with every check a downloaded bundle gets.
pub fn load() -> Result<Predictor> {
    Predictor::load_compiled(MANIFEST, PLAN)
}

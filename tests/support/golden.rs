//! onnxruntime's outputs for every holdout row of a bundle, as written by models/train.py to
//! tests/golden/; shared by the native and the browser tests.

/// The outputs of one bundle: probabilities and labels (classification) or values (regression).
#[derive(serde::Deserialize)]
pub struct Golden {
    #[serde(default)]
    pub probabilities: Vec<Vec<f32>>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub values: Vec<f32>,
}

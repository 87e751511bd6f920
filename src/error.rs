//! The errors of the core, one kind per thing a caller can get wrong, each with a stable code.

use thiserror::Error;

/// Everything that can go wrong when loading a bundle or predicting with it.
///
/// Callers branch on [`PredictError::code`], which is stable across versions; the message is for
/// people and names what is wrong.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PredictError {
    /// The model bytes are empty, truncated, or not an ONNX protobuf.
    #[error("the model is not a readable ONNX file: {0}")]
    ModelInvalid(String),
    /// The compiled plan (`model.plan`) is truncated, damaged, of another format, or does not
    /// hold together.
    #[error("the compiled plan (model.plan) is not readable: {0}")]
    PlanInvalid(String),
    /// The sha256 of the model bytes is not the one the manifest states.
    #[error("sha256 mismatch: the manifest says {expected}, the model bytes hash to {actual}")]
    HashMismatch {
        /// The hash written in the manifest.
        expected: String,
        /// The hash of the bytes that were given.
        actual: String,
    },
    /// The manifest is not valid JSON or breaks the manifest schema.
    #[error(transparent)]
    ManifestInvalid(#[from] wasm_predict_manifest::ManifestError),
    /// The manifest and the graph disagree (input or output names, feature or class counts).
    #[error("the manifest disagrees with the model graph: {0}")]
    GraphMismatch(String),
    /// The graph is valid ONNX but our engine cannot run it.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A regression fixture gave outputs outside the manifest's tolerance.
    #[error("regression fixture failed: {0}")]
    FixtureFailed(String),
    /// The input has the wrong number of values for the model.
    #[error("wrong input shape: {0}")]
    InputShape(String),
    /// The input is not of the element type the model takes.
    #[error("wrong input type: {0}")]
    InputDtype(String),
    /// The input holds an infinity, or a NaN where the manifest does not allow missing values.
    #[error("input value {index} (feature '{feature}') is {value}: inputs must be finite numbers (NaN only where the manifest's input says \"missing\": \"nan\")")]
    InputNotFinite {
        /// Position of the offending value in the flat input.
        index: usize,
        /// Name of the feature it belongs to.
        feature: String,
        /// How the value prints (NaN, inf, -inf).
        value: String,
    },
    /// The engine failed while running the model on a valid input.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl PredictError {
    /// A stable, machine-readable code for the kind of error, e.g. `HASH_MISMATCH`.
    pub fn code(&self) -> &'static str {
        match self {
            PredictError::ModelInvalid(_) | PredictError::PlanInvalid(_) => "MODEL_INVALID",
            PredictError::HashMismatch { .. } => "HASH_MISMATCH",
            PredictError::ManifestInvalid(_) => "MANIFEST_INVALID",
            PredictError::GraphMismatch(_) => "GRAPH_MISMATCH",
            PredictError::Unsupported(_) => "MODEL_UNSUPPORTED",
            PredictError::FixtureFailed(_) => "FIXTURE_FAILED",
            PredictError::InputShape(_) => "INPUT_SHAPE",
            PredictError::InputDtype(_) => "INPUT_DTYPE",
            PredictError::InputNotFinite { .. } => "INPUT_NOT_FINITE",
            PredictError::Inference(_) => "INFERENCE_FAILED",
        }
    }
}

/// The result type of the core.
pub type Result<T, E = PredictError> = std::result::Result<T, E>;

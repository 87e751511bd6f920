//! The manifest of a model bundle: what the model is, what it takes and gives, and how it is judged.
//!
//! `models/manifest.schema.json` is the same contract as a JSON Schema; [`Manifest::from_json`]
//! enforces it with typed parsing (unknown fields are refused) plus the checks below.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod assignment;
pub mod histogram;
pub mod record;

/// A manifest that is not valid JSON or breaks the manifest schema; the message names the field.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("invalid manifest: {0}")]
pub struct ManifestError(pub String);

/// The result type of manifest checks.
pub type Result<T, E = ManifestError> = std::result::Result<T, E>;

/// The manifest format this crate reads and writes.
pub const MANIFEST_FORMAT: u32 = 1;

/// Significant digits of the values a kernel computed that a manifest stores (fixtures' expected
/// outputs, histogram edges, the achieved metric). Machines with other CPUs agree on these digits
/// where they may differ on the eighth (summation order, FMA), so the same command writes the
/// same manifest on any of them.
pub const STORED_DIGITS: usize = 6;

/// The largest relative error of [`stored`]: half a unit in the last stored digit. A fixture's
/// expected value is compared within its tolerance plus this much of it.
pub const STORED_RELATIVE_ERROR: f32 = 5e-6;

/// `value` rounded to [`STORED_DIGITS`] significant digits (non-finite values and zero unchanged).
pub fn stored(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    format!("{value:.*e}", STORED_DIGITS - 1).parse().unwrap_or(value)
}

/// [`stored`] for an `f32` output.
pub fn stored_f32(value: f32) -> f32 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    format!("{value:.*e}", STORED_DIGITS - 1).parse().unwrap_or(value)
}

/// A bundle's manifest, as in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Path of the JSON Schema, for editors; ignored by the loader.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Manifest format, [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Model name: lowercase letters, digits and dashes.
    pub name: String,
    /// Semantic version of the model's coefficients, e.g. `1.2.0`.
    pub version: String,
    /// Lowercase hex sha256 of `model.onnx`.
    pub sha256: String,
    /// The model compiled for the runtime, `model.plan` beside the manifest: what the browser
    /// loads without the ONNX importer. Absent in bundles made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<CompiledPlan>,
    /// What the model predicts.
    pub task: Task,
    /// The graph's inputs: one float32 tensor (`[N, features]` or an image), or several named
    /// `[N, k]` tensors of float32, int64 or string values, whose features make one row in order.
    pub inputs: Vec<InputSpec>,
    /// Which graph outputs carry the prediction.
    pub outputs: OutputSpec,
    /// A binary classifier's decision threshold; absent: the most probable class is the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The performance requirement and the holdout it is measured on.
    pub performance: Performance,
    /// The memory requirement: the most heap the bundle may take when loaded. Absent in bundles
    /// made before it existed (nothing is enforced for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryRequirement>,
    /// Regression fixtures: inputs and the outputs onnxruntime gives for them.
    pub fixtures: Fixtures,
    /// Training-time distributions of the features and the predictions, for drift checks.
    pub reference: Reference,
    /// Where the model came from.
    pub provenance: Provenance,
    /// The model card beside the manifest, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardFiles>,
}

/// A binary classifier's decision threshold, chosen at launch: the label is the positive class
/// when its probability is at least the threshold; probabilities are unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The class the threshold is about (one of the classes).
    pub positive_class: String,
    /// The least probability of the positive class for it to be the label.
    pub threshold: f64,
    /// How it was chosen, e.g. "recall >= 0.9 on the holdout".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_for: Option<String>,
}

/// The model card's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFiles {
    /// `card.md`.
    pub markdown: BundleFile,
    /// `card.html`, self-contained.
    pub html: BundleFile,
}

/// A file of the bundle, beside the manifest, and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// Its name, relative to the manifest.
    pub path: String,
    /// Lowercase hex sha256 of the file.
    pub sha256: String,
}

/// `model.plan`: the bundle's model compiled for the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompiledPlan {
    /// The plan file's format: the loader refuses one it does not know.
    pub format: u32,
    /// Lowercase hex sha256 of `model.plan`.
    pub sha256: String,
}

/// The file name of a bundle's compiled plan.
pub const PLAN_FILE: &str = "model.plan";

/// Classification gives class probabilities; regression gives one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Class probabilities, a label and a confidence.
    Classification,
    /// One real value.
    Regression,
}

/// Element types a model input may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit float.
    Float32,
    /// 64-bit integer (a row holds it as a float: exact up to 2^24).
    Int64,
    /// String categories (a row holds a category's index in the input's `categories`).
    String,
}

/// One dimension of a shape: a symbol (the batch) or a fixed size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A symbolic size, such as the batch `N`.
    Symbol(String),
}

/// The model's input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Name of the graph input.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// A symbolic batch, then the fixed shape of one row: `["N", features]` for tabular data,
    /// `["N", channels, height, width]` for images; the row's sizes multiply to the feature count.
    pub shape: Vec<Dim>,
    /// One name per feature, in input order.
    pub features: Vec<String>,
    /// What a NaN input means: refused (the default), or a missing value the model imputes.
    #[serde(default, skip_serializing_if = "Missing::is_refuse")]
    pub missing: Missing,
    /// A string input: the categories its encoders know, in the order of the indices a row holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl InputSpec {
    /// The shape of one row of this input, without the batch dimension (0 for a symbol).
    pub fn row_shape(&self) -> Vec<usize> {
        self.shape
            .iter()
            .skip(1)
            .map(|d| match d {
                Dim::Fixed(n) => *n as usize,
                Dim::Symbol(_) => 0,
            })
            .collect()
    }
}

/// The policy for NaN inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// NaN is refused with `INPUT_NOT_FINITE`.
    #[default]
    Refuse,
    /// NaN is passed to the model as a missing value (for graphs with an Imputer).
    Nan,
}

impl Missing {
    fn is_refuse(&self) -> bool {
        *self == Missing::Refuse
    }
}

/// Names of the graph outputs that carry the prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Classification: the output of class probabilities, `[N, classes]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<String>,
    /// Classification: the output of labels (checked to exist; labels are taken from the probabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Regression: the output of values, `[N]` or `[N, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    /// Classification: class labels in the order of the probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

/// Metrics a performance requirement can be stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Share of holdout rows whose label is right (classification).
    Accuracy,
    /// Coefficient of determination (regression).
    R2,
}

/// A stated minimum of a metric on the bundled holdout sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Performance {
    /// The metric.
    pub metric: Metric,
    /// The least value the model must reach on the holdout.
    pub minimum: f64,
    /// What the model reached when it was bundled, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achieved: Option<f64>,
    /// The holdout sample.
    pub holdout: Holdout,
    /// Each time the minimum was raised on promotion (the ratchet), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratchet: Vec<RatchetStep>,
}

/// Rows of the batch that a [`MemoryRequirement`] includes: the bundle's holdout rows, cycled.
pub const MEMORY_BATCH_ROWS: usize = 256;

/// The most a wasm32 heap can hold: 65,536 pages of 64 KiB.
pub const WASM32_MEMORY_BYTES: u64 = 1 << 32;

/// How much heap a bundle takes: the peak of the bytes it allocates, above those allocated
/// before, while it is loaded from its files (their bytes included), verified (fixtures and
/// holdout), and runs one batch of [`MEMORY_BATCH_ROWS`] rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryRequirement {
    /// The most that peak may be: `verify` fails a bundle past it, the browser shell refuses one.
    pub maximum_bytes: u64,
    /// The peak measured when the bundle was made (natively), for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_bytes: Option<u64>,
}

/// One raise of a model's minimum performance, recorded when it was promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatchetStep {
    /// The minimum before.
    pub from: f64,
    /// The minimum after: what the model achieved, less the margin.
    pub to: f64,
    /// RFC 3339 time of the promotion.
    pub at: String,
    /// Why: which model it was promoted over, and on what evidence.
    pub reason: String,
}

/// Labelled rows kept out of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// One row of feature values per example (a missing value, NaN, is written `null`).
    #[serde(with = "missing_as_null::rows")]
    pub inputs: Vec<Vec<f32>>,
    /// The true class label (classification) or value (regression) of each row.
    pub targets: Vec<Target>,
}

/// A true answer: a class label or a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// A class label.
    Label(String),
    /// A real value.
    Value(f64),
}

/// Regression fixtures and the tolerance they are checked with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Largest absolute difference allowed between an output and its expected value.
    pub tolerance: f32,
    /// The cases.
    pub cases: Vec<Fixture>,
}

/// One input and the outputs onnxruntime gives for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Feature values (a missing value, NaN, is written `null`).
    #[serde(with = "missing_as_null::row")]
    pub input: Vec<f32>,
    /// Expected outputs.
    pub expected: Expected,
}

/// Expected outputs of a fixture: probabilities and label, or a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Classification: the class probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<f32>>,
    /// Classification: the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Regression: the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
}

/// Reference distributions from training time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// One histogram per input feature, in input order.
    pub features: Vec<FeatureHistogram>,
    /// The distribution of the model's predictions on the training data.
    pub predictions: PredictionReference,
}

/// Quantile bins of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureHistogram {
    /// Feature name, as in the input's `features`.
    pub name: String,
    /// Increasing bin edges; bins are (-inf, e0], (e0, e1], ..., (e_last, +inf).
    pub edges: Vec<f64>,
    /// Count per bin: one more than there are edges.
    pub counts: Vec<u64>,
    /// Values that were missing (NaN), in no bin.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Quantile bins of a real-valued quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    /// Increasing bin edges; bins are (-inf, e0], (e0, e1], ..., (e_last, +inf).
    pub edges: Vec<f64>,
    /// Count per bin: one more than there are edges.
    pub counts: Vec<u64>,
}

/// Training-time distribution of the predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionReference {
    /// Classification: how often each label was predicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, u64>>,
    /// Classification: the distribution of the confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Histogram>,
    /// Regression: the distribution of the predicted value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Histogram>,
}

/// Where the model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The data it was trained on.
    pub training_data: TrainingData,
    /// `name@version` of the model this one replaces or was derived from.
    pub parent_version: Option<String>,
    /// RFC 3339 time the bundle was made.
    pub created: String,
    /// The tool that made the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
}

/// The training data of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    /// A description of the source.
    pub source: String,
    /// Number of training rows.
    pub rows: u64,
    /// The time window the rows were drawn from, when they are time-stamped.
    pub window: Option<TimeWindow>,
}

/// A time window, both ends RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// First instant included.
    pub start: String,
    /// Last instant included.
    pub end: String,
}

impl Manifest {
    /// Parses and checks a manifest; every violation is a [`ManifestError`]
    /// naming the field.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError(format!("{e}")))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The first input of the model (the only one, unless it takes records).
    pub fn input(&self) -> &InputSpec {
        &self.inputs[0]
    }

    /// Whether the model takes missing values (NaN) as input (`"missing": "nan"`).
    pub fn takes_missing(&self) -> bool {
        self.inputs.iter().any(|i| i.missing == Missing::Nan)
    }

    /// Number of features per row, across the inputs.
    pub fn feature_count(&self) -> usize {
        self.inputs.iter().map(|i| i.features.len()).sum()
    }

    /// The shape of one row, without the batch dimension (`[features]` for several inputs).
    pub fn row_shape(&self) -> Vec<usize> {
        if self.inputs.len() > 1 {
            return vec![self.feature_count()];
        }
        self.input().row_shape()
    }

    /// Class labels (empty for regression).
    pub fn classes(&self) -> &[String] {
        self.outputs.classes.as_deref().unwrap_or(&[])
    }

    /// The label of one row of class probabilities: the positive class when the decision
    /// threshold says so (a binary classifier with a [`Decision`]), else the most probable class.
    /// Returns the label's index and its probability.
    pub fn decide(&self, probabilities: &[f32]) -> (usize, f32) {
        let positive = self
            .decision
            .as_ref()
            .filter(|_| probabilities.len() == 2)
            .and_then(|d| Some((self.classes().iter().position(|c| *c == d.positive_class)?, d.threshold)));
        let index = match positive {
            Some((p, threshold)) if f64::from(probabilities[p]) >= threshold => p,
            Some((p, _)) => 1 - p,
            None => {
                probabilities
                    .iter()
                    .copied()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |best, (i, v)| {
                            if v > best.1 {
                                (i, v)
                            } else {
                                best
                            }
                        },
                    )
                    .0
            }
        };
        (index, probabilities.get(index).copied().unwrap_or(f32::NAN))
    }

    /// The `name@version` of the model.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    fn check(&self) -> Result<()> {
        let invalid = |msg: String| Err(ManifestError(msg));
        if self.format != MANIFEST_FORMAT {
            return invalid(format!(
                "format is {}, this version reads format {MANIFEST_FORMAT}",
                self.format
            ));
        }
        if self.name.is_empty()
            || self.name.len() > 100
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return invalid(format!(
                "name {:?} must be 1 to 100 lowercase letters, digits or dashes",
                self.name
            ));
        }
        if !is_semver(&self.version) {
            return invalid(format!(
                "version {:?} is not a semantic version such as 1.0.0",
                self.version
            ));
        }
        if self.sha256.len() != 64 || !self.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return invalid(format!("sha256 {:?} must be 64 lowercase hex digits", self.sha256));
        }
        if let Some(plan) = &self.plan {
            if plan.sha256.len() != 64 || !plan.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
                return invalid(format!("plan.sha256 {:?} must be 64 lowercase hex digits", plan.sha256));
            }
        }
        if self.inputs.is_empty() {
            return invalid("inputs is empty: a model takes at least one input".into());
        }
        for (i, input) in self.inputs.iter().enumerate() {
            self.check_input(i, input)?;
        }
        let names = self.feature_names();
        if let Some(dup) = names
            .iter()
            .enumerate()
            .find_map(|(i, n)| names[..i].contains(n).then_some(n))
        {
            return invalid(format!(
                "feature {dup:?} appears twice: records name features, so each name is used once"
            ));
        }
        let features = names.len();
        self.check_outputs()?;
        self.check_performance(features)?;
        self.check_memory()?;
        self.check_fixtures(features)?;
        self.check_reference(features)
    }

    fn check_input(&self, i: usize, input: &InputSpec) -> Result<()> {
        let invalid = |msg: String| Err(ManifestError(msg));
        let features = input.features.len();
        if features == 0 {
            return invalid(format!("inputs[{i}].features is empty"));
        }
        let row_is_fixed =
            input.shape.len() >= 2 && input.shape[1..].iter().all(|d| matches!(d, Dim::Fixed(n) if *n > 0));
        let batch_is_symbolic = matches!(input.shape.first(), Some(Dim::Symbol(s)) if !s.is_empty());
        let row_size = input
            .shape
            .get(1..)
            .unwrap_or_default()
            .iter()
            .try_fold(1u64, |acc, d| match d {
                Dim::Fixed(n) => acc.checked_mul(*n),
                Dim::Symbol(_) => None,
            });
        if !(row_is_fixed && batch_is_symbolic && row_size == Some(features as u64)) {
            return invalid(format!(
                "inputs[{i}].shape must be a symbolic batch then fixed sizes that multiply to the {features} features, \
                 such as [\"N\", {features}], got {:?}",
                input.shape
            ));
        }
        if self.takes_records() && input.shape.len() != 2 {
            return invalid(format!(
                "inputs[{i}].shape is {:?}: a model with several inputs, or with int64 or string inputs, takes \
                 tables, [\"N\", features] for each input",
                input.shape
            ));
        }
        if input.dtype != Dtype::Float32 && input.missing == Missing::Nan {
            return invalid(format!(
                "inputs[{i}] is {:?}: only float32 inputs take \"missing\": \"nan\" (a missing string is an unknown category)",
                input.dtype
            ));
        }
        match (&input.dtype, &input.categories) {
            (Dtype::String, Some(categories)) => {
                if categories.is_empty() {
                    return invalid(format!("inputs[{i}].categories is empty"));
                }
                if let Some(dup) = categories
                    .iter()
                    .enumerate()
                    .find_map(|(j, c)| categories[..j].contains(c).then_some(c))
                {
                    return invalid(format!("inputs[{i}].categories lists {dup:?} twice"));
                }
            }
            (Dtype::String, None) => {
                return invalid(format!(
                    "inputs[{i}] is a string input without categories: list the categories its encoders know"
                ))
            }
            (_, Some(_)) => return invalid(format!("inputs[{i}] has categories but is not a string input")),
            (_, None) => {}
        }
        Ok(())
    }

    fn check_rows<'a>(&self, field: &str, rows: impl Iterator<Item = &'a Vec<f32>>, features: usize) -> Result<()> {
        let names = self.feature_names();
        let kinds = self.feature_kinds();
        for (i, row) in rows.enumerate() {
            if row.len() != features {
                return Err(ManifestError(format!(
                    "{field}[{i}] has {} values for {features} features",
                    row.len()
                )));
            }
            if let Some((j, why)) = row
                .iter()
                .zip(&kinds)
                .enumerate()
                .find_map(|(j, (v, kind))| kind.refuse(*v).map(|why| (j, why)))
            {
                return Err(ManifestError(format!("{field}[{i}][{j}] (`{}`) {why}", names[j])));
            }
        }
        Ok(())
    }

    fn check_outputs(&self) -> Result<()> {
        let invalid = |msg: String| Err(ManifestError(msg));
        let o = &self.outputs;
        match self.task {
            Task::Classification => {
                if o.probabilities.is_none() || o.score.is_some() {
                    return invalid(
                        "a classification manifest names outputs.probabilities and no outputs.score".into(),
                    );
                }
                let classes = self.classes();
                if classes.len() < 2 {
                    return invalid(format!(
                        "outputs.classes must list at least 2 classes, got {}",
                        classes.len()
                    ));
                }
                let mut sorted: Vec<&String> = classes.iter().collect();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != classes.len() {
                    return invalid("outputs.classes has duplicate labels".into());
                }
            }
            Task::Regression => {
                if o.score.is_none() || o.probabilities.is_some() || o.classes.is_some() {
                    return invalid("a regression manifest names outputs.score and no probabilities or classes".into());
                }
            }
        }
        if let Some(d) = &self.decision {
            if self.classes().len() != 2 {
                return invalid(format!(
                    "decision: a threshold is for a binary classifier, this model has {} classes",
                    self.classes().len()
                ));
            }
            if !self.classes().contains(&d.positive_class) {
                return invalid(format!(
                    "decision.positive_class {:?} is not one of outputs.classes",
                    d.positive_class
                ));
            }
            if !(0.0..=1.0).contains(&d.threshold) {
                return invalid(format!("decision.threshold {} must be between 0 and 1", d.threshold));
            }
        }
        if let Some(card) = &self.card {
            for (field, file) in [("card.markdown", &card.markdown), ("card.html", &card.html)] {
                let plain = !file.path.is_empty()
                    && file
                        .path
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    && !file.path.starts_with('.');
                if !plain || file.sha256.len() != 64 || !file.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
                {
                    return invalid(format!(
                        "{field} must name a file beside the manifest and its 64-hex-digit sha256"
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_performance(&self, features: usize) -> Result<()> {
        let invalid = |msg: String| Err(ManifestError(msg));
        let p = &self.performance;
        match (self.task, p.metric) {
            (Task::Classification, Metric::Accuracy) | (Task::Regression, Metric::R2) => {}
            (task, metric) => return invalid(format!("metric {metric:?} does not apply to task {task:?}")),
        }
        let range = if p.metric == Metric::Accuracy {
            0.0..=1.0
        } else {
            f64::NEG_INFINITY..=1.0
        };
        if !p.minimum.is_finite() || !range.contains(&p.minimum) {
            return invalid(format!(
                "performance.minimum {} is out of range for {:?}",
                p.minimum, p.metric
            ));
        }
        let h = &p.holdout;
        if h.inputs.is_empty() || h.inputs.len() != h.targets.len() {
            return invalid(format!(
                "performance.holdout needs as many targets as inputs, and at least one: {} inputs, {} targets",
                h.inputs.len(),
                h.targets.len()
            ));
        }
        self.check_rows("performance.holdout.inputs", h.inputs.iter(), features)?;
        for (i, t) in h.targets.iter().enumerate() {
            let ok = match (self.task, t) {
                (Task::Classification, Target::Label(l)) => self.classes().contains(l),
                (Task::Regression, Target::Value(v)) => v.is_finite(),
                _ => false,
            };
            if !ok {
                return invalid(format!(
                    "performance.holdout.targets[{i}] = {t:?} is not a valid target"
                ));
            }
        }
        Ok(())
    }

    fn check_memory(&self) -> Result<()> {
        let Some(memory) = &self.memory else {
            return Ok(());
        };
        if memory.maximum_bytes == 0 || memory.maximum_bytes > WASM32_MEMORY_BYTES {
            return Err(ManifestError(format!(
                "memory.maximum_bytes {} must be between 1 and {WASM32_MEMORY_BYTES} (a wasm32 memory's 4 GiB)",
                memory.maximum_bytes
            )));
        }
        if let Some(measured) = memory.measured_bytes.filter(|m| *m > memory.maximum_bytes) {
            return Err(ManifestError(format!(
                "memory.measured_bytes {measured} is over memory.maximum_bytes {}: the bundle was measured past its own requirement",
                memory.maximum_bytes
            )));
        }
        Ok(())
    }

    fn check_fixtures(&self, features: usize) -> Result<()> {
        let invalid = |msg: String| Err(ManifestError(msg));
        let f = &self.fixtures;
        if !f.tolerance.is_finite() || f.tolerance <= 0.0 {
            return invalid(format!("fixtures.tolerance {} must be a positive number", f.tolerance));
        }
        if f.cases.is_empty() {
            return invalid("fixtures.cases is empty: a bundle carries at least one regression fixture".into());
        }
        self.check_rows("fixtures.cases[].input", f.cases.iter().map(|c| &c.input), features)?;
        for (i, case) in f.cases.iter().enumerate() {
            let e = &case.expected;
            let ok = match self.task {
                Task::Classification => {
                    e.value.is_none()
                        && e.probabilities
                            .as_ref()
                            .is_some_and(|p| p.len() == self.classes().len() && p.iter().all(|v| v.is_finite()))
                        && e.label.as_ref().is_some_and(|l| self.classes().contains(l))
                }
                Task::Regression => {
                    e.probabilities.is_none() && e.label.is_none() && e.value.is_some_and(f32::is_finite)
                }
            };
            if !ok {
                return invalid(format!(
                    "fixtures.cases[{i}].expected must hold {} for this task",
                    match self.task {
                        Task::Classification => "one finite probability per class and a known label",
                        Task::Regression => "a finite value",
                    }
                ));
            }
        }
        Ok(())
    }

    fn check_reference(&self, features: usize) -> Result<()> {
        let r = &self.reference;
        if r.features.len() != features {
            return Err(ManifestError(format!(
                "reference.features has {} histograms for {features} features",
                r.features.len()
            )));
        }
        for (i, (h, name)) in r.features.iter().zip(self.feature_names()).enumerate() {
            if h.name != name {
                return Err(ManifestError(format!(
                    "reference.features[{i}] is named {:?}, the input feature is {name:?}",
                    h.name
                )));
            }
            check_histogram(&format!("reference.features[{i}]"), &h.edges, &h.counts)?;
        }
        let p = &r.predictions;
        for (field, h) in [("confidence", &p.confidence), ("value", &p.value)] {
            if let Some(h) = h {
                check_histogram(&format!("reference.predictions.{field}"), &h.edges, &h.counts)?;
            }
        }
        Ok(())
    }
}

fn check_histogram(field: &str, edges: &[f64], counts: &[u64]) -> Result<()> {
    if counts.len() != edges.len() + 1 {
        return Err(ManifestError(format!(
            "{field} has {} counts for {} edges; it needs one more count than edges",
            counts.len(),
            edges.len()
        )));
    }
    if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ManifestError(format!(
            "{field}.edges must be finite and strictly increasing"
        )));
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre` or `+build` tail.
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')))
        && v.len() < 64
}

/// Rows of feature values in JSON, where a missing value (NaN) is `null`: JSON has no NaN.
mod missing_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    fn out(row: &[f32]) -> Vec<Option<f32>> {
        row.iter().map(|v| (!v.is_nan()).then_some(*v)).collect()
    }

    fn back(row: Vec<Option<f32>>) -> Vec<f32> {
        row.into_iter().map(|v| v.unwrap_or(f32::NAN)).collect()
    }

    /// One row.
    pub mod row {
        use super::*;

        pub fn serialize<S: Serializer>(row: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
            out(row).serialize(serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
            Ok(back(Vec::deserialize(deserializer)?))
        }
    }

    /// Several rows.
    pub mod rows {
        use super::*;

        pub fn serialize<S: Serializer>(rows: &[Vec<f32>], serializer: S) -> Result<S::Ok, S::Error> {
            rows.iter().map(|r| out(r)).collect::<Vec<_>>().serialize(serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<f32>>, D::Error> {
            Ok(Vec::<Vec<Option<f32>>>::deserialize(deserializer)?
                .into_iter()
                .map(back)
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_semver;

    #[test]
    fn semver_accepts_plain_and_prerelease_and_refuses_the_rest() {
        for ok in ["1.0.0", "0.12.3", "2.0.0-rc.1", "1.0.0+build5"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["1.0", "1.0.0.0", "01.0.0", "a.b.c", "", "1..0"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}

//! The predictor: a bundle loaded once, then run on rows and batches.
//!
//! A bundle loads from its compiled plan (`model.plan`, run by our runtime) in every build; with
//! the `onnx` feature also from `model.onnx` ([`from_onnx`]).

use std::sync::Arc;

use crate::batching::Batching;
use crate::error::{PredictError, Result};
use crate::fixtures::check_fixtures;
use crate::hash::sha256_hex;
use crate::manifest::{Manifest, Task};
use crate::plan_file::{self, CompiledModel, PLAN_FORMAT};
use crate::prediction::{BatchPrediction, Prediction};
use wasm_predict_kernels::trees::Forest;
use wasm_predict_runtime::{Dim, Runner};

#[cfg(feature = "onnx")]
mod from_onnx;
#[cfg(feature = "onnx")]
pub use from_onnx::{compile_model, COMPILED_PLANS};

/// A loaded bundle, ready to predict.
///
/// Built once from the bundle's bytes into our runtime's plan (or, for a graph the runtime cannot
/// run, tract's plans: one for a single row, one for any batch size built on the first batch);
/// no call rebuilds anything.
pub struct Predictor {
    manifest: Manifest,
    engine: Engine,
    batching: Batching,
    /// A graph that is one tree-ensemble node runs on the kernel alone: tract's plan around it
    /// cost more than the trees themselves (it is still built, and checks the graph).
    trees: Option<Arc<Forest>>,
    /// Row positions of string categories whose encoder refuses unknown ones (onnxruntime fails
    /// the row): such a row is refused here too.
    refuses_unknown: Vec<usize>,
}

/// What runs the graph.
enum Engine {
    /// Our runtime's plan ([`crate::plan_file`]), for every number of rows.
    Compiled(Box<Runner>),
    /// tract's plans, for graphs with an op the runtime lacks.
    #[cfg(feature = "onnx")]
    Tract(Box<from_onnx::TractEngine>),
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("model", &self.manifest.id())
            .finish_non_exhaustive()
    }
}

impl Predictor {
    /// Loads a bundle from its manifest and one of its model files, told apart by their first
    /// bytes: the compiled plan (`model.plan`, see [`Predictor::load_compiled`]) or, in a build
    /// with the `onnx` feature, `model.onnx` (see [`Predictor::load`]).
    pub fn load_model_file(manifest_json: &[u8], bytes: &[u8]) -> Result<Predictor> {
        if plan_file::is_plan(bytes) {
            return Predictor::load_compiled(manifest_json, bytes);
        }
        #[cfg(feature = "onnx")]
        return Predictor::load(manifest_json, bytes);
        #[cfg(not(feature = "onnx"))]
        Err(PredictError::Unsupported(
            "these bytes are not a compiled plan (model.plan), and this build of wasm-predict runs compiled \
             plans only: load the bundle's model.plan (made by `wasm-predict bundle` or `wasm-predict plan`), \
             or use the full build (`wasm-predict/full`) to load model.onnx"
                .into(),
        ))
    }

    /// Loads a bundle from its manifest and its compiled plan (`model.plan`) instead of
    /// `model.onnx`: checks the manifest, the plan's sha256 (`plan.sha256`) and format, that the
    /// plan takes the manifest's rows, and runs the regression fixtures.
    pub fn load_compiled(manifest_json: &[u8], plan: &[u8]) -> Result<Predictor> {
        let manifest = Manifest::from_json(manifest_json)?;
        let Some(stated) = &manifest.plan else {
            return Err(PredictError::PlanInvalid(format!(
                "the manifest of {} states no plan (`plan`): make one with `wasm-predict plan BUNDLE`, \
                 or load model.onnx",
                manifest.id()
            )));
        };
        let actual = sha256_hex(plan);
        if actual != stated.sha256 {
            return Err(PredictError::HashMismatch {
                expected: stated.sha256.clone(),
                actual,
            });
        }
        if stated.format != PLAN_FORMAT {
            return Err(PredictError::PlanInvalid(format!(
                "the manifest states plan format {}, this build reads format {PLAN_FORMAT}",
                stated.format
            )));
        }
        let mut predictor = Predictor::from_compiled(manifest, plan_file::decode(plan)?)?;
        let (model, fixtures) = (predictor.manifest.id(), predictor.manifest.fixtures.clone());
        check_fixtures(&model, &fixtures, |row| predictor.predict(row))?;
        Ok(predictor)
    }

    /// A predictor over a compiled model, without the hash and the fixtures.
    pub fn from_compiled(manifest: Manifest, compiled: CompiledModel) -> Result<Predictor> {
        let batching = match compiled.fixed_batch() {
            Some(0) => return Err(PredictError::PlanInvalid("the plan takes groups of 0 rows".into())),
            Some(rows) => Batching::Fixed(rows),
            None => Batching::Any,
        };
        let row: Vec<Dim> = manifest.row_shape().into_iter().map(Dim::fixed).collect();
        if compiled.plan.input_shape.get(1..) != Some(row.as_slice()) {
            return Err(PredictError::GraphMismatch(format!(
                "the compiled plan takes inputs of shape {:?}, the manifest says [N, {}]",
                compiled.plan.input_shape,
                manifest
                    .row_shape()
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let runner = Runner::new(compiled.plan).map_err(|e| PredictError::PlanInvalid(e.to_string()))?;
        let mut predictor = Predictor {
            manifest,
            engine: Engine::Compiled(Box::new(runner)),
            batching,
            trees: None,
            refuses_unknown: compiled.refuses_unknown,
        };
        predictor.check_output_width()?;
        Ok(predictor)
    }

    /// Whether the graph runs on our runtime's compiled plan rather than tract's.
    pub fn runs_compiled(&self) -> bool {
        matches!(self.engine, Engine::Compiled(_))
    }

    /// Why the graph runs on tract's plans though the runtime was tried: the node it lacks.
    pub fn why_not_compiled(&self) -> Option<&str> {
        match &self.engine {
            #[cfg(feature = "onnx")]
            Engine::Tract(tract) => tract.why.as_deref(),
            Engine::Compiled(_) => None,
        }
    }

    /// Whether the graph is one tree ensemble, run on our tree kernel without tract's plan.
    pub fn runs_trees_directly(&self) -> bool {
        self.trees.is_some()
    }

    /// How the plans take rows: any number, or groups of the batch size the graph fixes.
    pub fn batching(&self) -> Batching {
        if self.trees.is_some() {
            Batching::Any
        } else {
            self.batching
        }
    }

    /// The manifest of the loaded bundle.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Predicts one row of `features` values.
    pub fn predict(&mut self, row: &[f32]) -> Result<Prediction> {
        self.check_values(row, 1)?;
        if let (None, Engine::Compiled(runner), Batching::Any) = (&self.trees, &mut self.engine, self.batching) {
            let (outputs, _) = runner.run(row, 1).map_err(|e| PredictError::Inference(e.to_string()))?;
            return interpret(&self.manifest, outputs, 0);
        }
        let outputs = match &self.trees {
            Some(forest) => evaluate_trees(forest, row, 1)?,
            None => self.run_single(row, 1)?,
        };
        self.interpret(&outputs, 0)
    }

    /// Predicts one record: the features by name (see [`Manifest::encode_record`]).
    pub fn predict_record(&mut self, record: &serde_json::Map<String, serde_json::Value>) -> Result<Prediction> {
        let row = self.manifest.encode_record(record).map_err(record_error)?;
        self.predict(&row)
    }

    /// Predicts a batch of records.
    pub fn predict_records(
        &mut self,
        records: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<BatchPrediction> {
        let mut flat = Vec::with_capacity(records.len() * self.manifest.feature_count());
        for (i, record) in records.iter().enumerate() {
            let row = self.manifest.encode_record(record).map_err(|e| match record_error(e) {
                PredictError::InputShape(m) => PredictError::InputShape(format!("record {i}: {m}")),
                PredictError::InputDtype(m) => PredictError::InputDtype(format!("record {i}: {m}")),
                other => other,
            })?;
            flat.extend(row);
        }
        self.predict_batch(&flat, records.len())
    }

    /// Predicts `rows` rows given one after the other in `flat`.
    pub fn predict_batch(&mut self, flat: &[f32], rows: usize) -> Result<BatchPrediction> {
        if rows == 0 {
            return Err(PredictError::InputShape("a batch needs at least one row".into()));
        }
        self.check_values(flat, rows)?;
        let outputs = match &self.trees {
            Some(forest) => evaluate_trees(forest, flat, rows)?,
            None => self.run_batch(flat, rows)?,
        };
        let width = self.manifest.classes().len().max(1);
        if outputs.len() != rows * width {
            return Err(PredictError::Inference(format!(
                "the model gave {} values for {rows} rows of {width}",
                outputs.len()
            )));
        }
        let mut batch = BatchPrediction {
            rows,
            outputs,
            label_indices: vec![],
            confidences: vec![],
        };
        if self.manifest.task == Task::Classification {
            (batch.label_indices, batch.confidences) = batch
                .outputs
                .chunks_exact(width)
                .map(|row| {
                    let (index, confidence) = self.manifest.decide(row);
                    (index as u32, confidence)
                })
                .unzip();
        }
        Ok(batch)
    }

    /// Runs the plan for any batch size (tract's optimized on the first batch).
    fn run_batch(&mut self, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
        if let Batching::Fixed(_) = self.batching {
            return self.run_single(flat, rows);
        }
        match &mut self.engine {
            Engine::Compiled(runner) => run_compiled(runner, flat, rows),
            #[cfg(feature = "onnx")]
            Engine::Tract(tract) => tract.run_batch(flat, rows, &self.manifest.row_shape()),
        }
    }

    /// Runs one group of rows on the plan made for one row (or any number, for ours).
    fn run_group(&mut self, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
        match &mut self.engine {
            Engine::Compiled(runner) => run_compiled(runner, flat, rows),
            #[cfg(feature = "onnx")]
            Engine::Tract(tract) => tract.run_single(flat, rows, &self.manifest.row_shape()),
        }
    }

    /// Runs `rows` rows on the plan made for one row: one call, or for a graph that fixes its
    /// batch size, one call per group of that many rows, the last padded with zero rows.
    fn run_single(&mut self, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
        let Batching::Fixed(group) = self.batching else {
            return self.run_group(flat, rows);
        };
        let width = self.manifest.feature_count();
        let mut outputs = Vec::new();
        for start in (0..rows).step_by(group) {
            let taken = group.min(rows - start);
            let mut padded = flat
                .get(start * width..(start + taken) * width)
                .unwrap_or_default()
                .to_vec();
            padded.resize(group * width, 0.0);
            let out = self.run_group(&padded, group)?;
            outputs.extend_from_slice(out.get(..out.len() / group * taken).unwrap_or_default());
        }
        Ok(outputs)
    }

    /// The prediction of row `r` of a flat output array.
    pub fn interpret(&self, outputs: &[f32], r: usize) -> Result<Prediction> {
        interpret(&self.manifest, outputs, r)
    }

    fn check_values(&self, flat: &[f32], rows: usize) -> Result<()> {
        let features = self.manifest.feature_count();
        let expected = rows
            .checked_mul(features)
            .ok_or_else(|| PredictError::InputShape(format!("{rows} rows of {features} features overflow")))?;
        if flat.len() != expected {
            return Err(PredictError::InputShape(format!(
                "expected {expected} values ({rows} row{} of {features} features), got {}",
                if rows == 1 { "" } else { "s" },
                flat.len()
            )));
        }
        if let Some(index) = (0..rows)
            .flat_map(|r| self.refuses_unknown.iter().map(move |f| r * features + f))
            .find(|&i| flat.get(i) == Some(&crate::manifest::record::UNKNOWN_CATEGORY))
        {
            let names = self.manifest.feature_names();
            return Err(PredictError::InputDtype(format!(
                "`{}` (row {}) is a category the model does not know, and its encoder was exported to refuse \
                 unknown categories (OneHotEncoder(handle_unknown=\"error\")); export it with handle_unknown=\"ignore\" \
                 to predict such rows",
                names.get(index % features).copied().unwrap_or_default(),
                index / features
            )));
        }
        match self.manifest.refused_value(flat) {
            None => Ok(()),
            Some((index, feature, _)) if !flat[index].is_finite() => Err(PredictError::InputNotFinite {
                index,
                feature,
                value: flat[index].to_string(),
            }),
            Some((index, feature, why)) => Err(PredictError::InputDtype(format!(
                "input value {index} (feature '{feature}') {why}"
            ))),
        }
    }

    fn check_output_width(&mut self) -> Result<()> {
        let zeros = vec![0.0; self.manifest.feature_count()];
        let width = self.run_single(&zeros, 1)?.len();
        let expected = match self.manifest.task {
            Task::Classification => self.manifest.classes().len(),
            Task::Regression => 1,
        };
        if width != expected {
            return Err(PredictError::GraphMismatch(format!(
                "the model gives {width} values per row, the manifest expects {expected}"
            )));
        }
        Ok(())
    }
}

/// The prediction of row `r` of a flat output array of a model that `manifest` describes.
fn interpret(manifest: &Manifest, outputs: &[f32], r: usize) -> Result<Prediction> {
    let width = manifest.classes().len().max(1);
    let row = outputs.get(r * width..(r + 1) * width).ok_or_else(|| {
        PredictError::Inference(format!(
            "the model gave {} values, row {r} needs {width} of them",
            outputs.len()
        ))
    })?;
    Ok(match manifest.task {
        Task::Classification => {
            let (label_index, confidence) = manifest.decide(row);
            Prediction::Classification {
                label: manifest.classes().get(label_index).cloned().unwrap_or_default(),
                label_index,
                confidence,
                probabilities: row.to_vec(),
            }
        }
        Task::Regression => Prediction::Regression { value: row[0] },
    })
}

fn record_error(error: crate::manifest::record::RecordError) -> PredictError {
    match error {
        crate::manifest::record::RecordError::Shape(m) => PredictError::InputShape(m),
        crate::manifest::record::RecordError::Value(m) => PredictError::InputDtype(m),
    }
}

/// The scores of `rows` rows on a graph that is one tree ensemble.
fn evaluate_trees(forest: &Forest, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
    let width = flat.len().checked_div(rows).unwrap_or(0);
    forest
        .evaluate(flat, width, rows)
        .map(|(scores, _)| scores)
        .map_err(|e| PredictError::Inference(e.to_string()))
}

/// Runs `rows` rows on our runtime's plan.
fn run_compiled(runner: &mut Runner, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
    let (output, _) = runner
        .run(flat, rows)
        .map_err(|e| PredictError::Inference(e.to_string()))?;
    Ok(output.to_vec())
}

//! The predictor: a bundle loaded into tract once, then run on rows and batches.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb::{type_proto, ModelProto};
use tract_onnx::prelude::*;

use crate::error::{PredictError, Result};
use crate::fixtures::check_fixtures;
use crate::lowering;
use crate::manifest::{Manifest, Task};
use crate::onnx::{read_proto, sha256_hex};
use crate::ops::fake_quantize::FakeQuantize;
use crate::plan_file::{self, CompiledModel, PLAN_FORMAT};
use crate::prediction::{BatchPrediction, Prediction};
use crate::typing::{type_graph, Batching, BATCH_SYMBOL};
use wasm_predict_kernels::trees::Forest;
use wasm_predict_runtime::{Dim, Plan, Runner};

/// A loaded bundle, ready to predict.
///
/// Built once from the bundle's bytes; keeps two tract plans with their states, one optimized
/// for a single row and one for any batch size (built on the first batch, so that page start-up
/// pays for one plan only); no call rebuilds anything.
pub struct Predictor {
    manifest: Manifest,
    engine: Engine,
    batching: Batching,
    rounding: Rounding,
    /// A graph that is one tree-ensemble node runs on the kernel alone: tract's plan around it
    /// cost more than the trees themselves (it is still built, and checks the graph).
    trees: Option<Arc<Forest>>,
    /// Row positions of string categories whose encoder refuses unknown ones (onnxruntime fails
    /// the row): such a row is refused here too.
    refuses_unknown: Vec<usize>,
}

/// The roundings to an int8 grid that the graph started or ended with, taken out of it (see
/// [`lowering::take_input_quantization`]) and applied as values go in and out.
#[derive(Default)]
struct Rounding {
    input: Option<FakeQuantize>,
    output: Option<FakeQuantize>,
}

impl Rounding {
    /// `run` on `flat` rounded as the graph's input was, its output rounded as the graph's was.
    fn around(&self, flat: &[f32], run: impl FnOnce(&[f32]) -> Result<Vec<f32>>) -> Result<Vec<f32>> {
        let mut values = match &self.input {
            Some(op) => {
                let mut rounded = flat.to_vec();
                op.apply(&mut rounded);
                run(&rounded)?
            }
            None => run(flat)?,
        };
        if let Some(op) = &self.output {
            op.apply(&mut values);
        }
        Ok(values)
    }
}

/// What runs the graph.
enum Engine {
    /// Our runtime's plan ([`crate::compile`]), for every number of rows.
    Compiled(Box<Runner>),
    /// tract's plans, for graphs with an op the runtime lacks (`why` says which), or everywhere
    /// when [`COMPILED_PLANS`] is off: one for a single row, one for batches.
    Tract {
        single: Box<TypedSimpleState>,
        batch: BatchPlan,
        why: Option<String>,
    },
}

/// Whether the predictor runs graphs on our runtime ([`crate::compile`]) rather than on tract's
/// plans: where our product kernels are in the graph too ([`lowering::OWN_PRODUCTS`]), so in
/// wasm; natively tract's AVX2 kernels are faster.
pub const COMPILED_PLANS: bool = lowering::OWN_PRODUCTS;

/// The plan for any batch size: the typed model until the first batch, then its running state.
enum BatchPlan {
    Pending(TypedModel),
    Ready(Box<TypedSimpleState>),
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("model", &self.manifest.id())
            .finish_non_exhaustive()
    }
}

impl Predictor {
    /// Loads a bundle: checks the manifest, the model's sha256, that the graph matches the
    /// manifest, builds the plans, and runs the regression fixtures.
    pub fn load(manifest_json: &[u8], model: &[u8]) -> Result<Predictor> {
        let manifest = Manifest::from_json(manifest_json)?;
        let actual = sha256_hex(model);
        if actual != manifest.sha256 {
            return Err(PredictError::HashMismatch {
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        let mut predictor = Predictor::from_model(manifest, model)?;
        let (model, fixtures) = (predictor.manifest.id(), predictor.manifest.fixtures.clone());
        check_fixtures(&model, &fixtures, |row| predictor.predict(row))?;
        Ok(predictor)
    }

    /// Builds the plans for `model` as `manifest` describes it, without the hash and the fixtures.
    pub fn from_model(manifest: Manifest, model: &[u8]) -> Result<Predictor> {
        let Prepared {
            proto,
            rounding,
            refuses_unknown,
            output,
        } = prepare(&manifest, model, lowering::OWN_PRODUCTS)?;
        let trees = match (&rounding.input, &rounding.output) {
            (None, None) => crate::ops::tree_ensemble::sole_forest(&proto, &output)
                .filter(|f| f.min_width() <= manifest.feature_count()),
            _ => None,
        };
        let (engine, batching) = build_plans(&proto, &manifest, &rounding).map_err(|e| unsupported_nodes(e, &proto))?;
        let mut predictor = Predictor {
            manifest,
            // A compiled plan has the roundings as nodes.
            rounding: match engine {
                Engine::Compiled(_) => Rounding::default(),
                Engine::Tract { .. } => rounding,
            },
            engine,
            batching,
            trees,
            refuses_unknown,
        };
        predictor.check_output_width()?;
        Ok(predictor)
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
            rounding: Rounding::default(),
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
            Engine::Tract { why, .. } => why.as_deref(),
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
                    let (index, confidence) = argmax(row);
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
        let row_shape = self.manifest.row_shape();
        let batch = match &mut self.engine {
            Engine::Compiled(runner) => return self.rounding.around(flat, |x| run_compiled(runner, x, rows)),
            Engine::Tract { batch, .. } => batch,
        };
        if let BatchPlan::Pending(typed) = batch {
            let state = typed
                .clone()
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .and_then(|p| p.spawn())
                .map_err(|e| PredictError::Unsupported(format!("planning for batches: {e:#}")))?;
            *batch = BatchPlan::Ready(Box::new(state));
        }
        let BatchPlan::Ready(state) = batch else {
            return Err(PredictError::Inference("the batch plan is missing".into()));
        };
        self.rounding.around(flat, |x| run(state, x, rows, &row_shape))
    }

    /// Runs one group of rows on the plan made for one row (or any number, for ours).
    fn run_group(&mut self, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
        match &mut self.engine {
            Engine::Compiled(runner) => self.rounding.around(flat, |x| run_compiled(runner, x, rows)),
            Engine::Tract { single, .. } => {
                let row_shape = self.manifest.row_shape();
                self.rounding.around(flat, |x| run(single, x, rows, &row_shape))
            }
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
        let width = self.manifest.classes().len().max(1);
        let row = outputs.get(r * width..(r + 1) * width).ok_or_else(|| {
            PredictError::Inference(format!(
                "the model gave {} values, row {r} needs {width} of them",
                outputs.len()
            ))
        })?;
        Ok(match self.manifest.task {
            Task::Classification => {
                let (label_index, confidence) = argmax(row);
                Prediction::Classification {
                    label: self.manifest.classes()[label_index].clone(),
                    label_index,
                    confidence,
                    probabilities: row.to_vec(),
                }
            }
            Task::Regression => Prediction::Regression { value: row[0] },
        })
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

fn argmax(values: &[f32]) -> (usize, f32) {
    values.iter().copied().enumerate().fold(
        (0, f32::NEG_INFINITY),
        |best, (i, v)| if v > best.1 { (i, v) } else { best },
    )
}

/// The graph's inputs (initializers excluded) and outputs must be those the manifest names.
fn check_graph_matches(proto: &ModelProto, manifest: &Manifest) -> Result<()> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| PredictError::ModelInvalid("no graph".into()))?;
    let inputs = crate::typing::graph_inputs(proto);
    let names = |list: Vec<&str>| list.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    if inputs.len() != manifest.inputs.len() {
        return Err(PredictError::GraphMismatch(format!(
            "the graph has {} input(s) ({}); the manifest describes {} ({})",
            inputs.len(),
            names(inputs.iter().map(|i| i.name.as_str()).collect()),
            manifest.inputs.len(),
            names(manifest.inputs.iter().map(|i| i.name.as_str()).collect())
        )));
    }
    for (input, spec) in inputs.iter().zip(&manifest.inputs) {
        if input.name != spec.name {
            return Err(PredictError::GraphMismatch(format!(
                "the graph's input is {:?}, the manifest says {:?}",
                input.name, spec.name
            )));
        }
        let Some(type_proto::Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            continue;
        };
        use tract_onnx::pb::tensor_proto::DataType;
        if t.elem_type != crate::records::onnx_type(spec.dtype) as i32 {
            return Err(PredictError::GraphMismatch(format!(
                "the graph's input {:?} has ONNX element type {}, the manifest says {:?}",
                input.name,
                DataType::try_from(t.elem_type)
                    .map_or_else(|_| t.elem_type.to_string(), |d| d.as_str_name().to_lowercase()),
                spec.dtype
            )));
        }
        let Some(dims) = crate::typing::declared_dims(input) else {
            continue;
        };
        let row = spec.row_shape();
        let fits = dims.len() == row.len() + 1 && dims[1..].iter().zip(&row).all(|(d, r)| d.is_none_or(|n| n == *r));
        if !fits {
            return Err(PredictError::GraphMismatch(format!(
                "the graph's input {:?} has shape {dims:?} (None = symbolic); the manifest says [N, {}]",
                input.name,
                row.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let outputs = &manifest.outputs;
    for name in [&outputs.probabilities, &outputs.label, &outputs.score]
        .into_iter()
        .flatten()
    {
        if !graph.output.iter().any(|o| &o.name == name) {
            return Err(PredictError::GraphMismatch(format!(
                "the manifest names output {name:?}, the graph's outputs are {:?}",
                graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>()
            )));
        }
    }
    Ok(())
}

/// The graph as the predictor runs it: inputs merged into one row, the used output kept,
/// lowered, the input's and output's roundings taken out.
struct Prepared {
    proto: ModelProto,
    rounding: Rounding,
    refuses_unknown: Vec<usize>,
    /// The output that carries the prediction.
    output: String,
}

fn prepare(manifest: &Manifest, model: &[u8], own_products: bool) -> Result<Prepared> {
    let mut proto = read_proto(model)?;
    check_graph_matches(&proto, manifest)?;
    let refuses_unknown = if manifest.takes_records() {
        crate::records::merge_inputs(&mut proto, &crate::records::layout_from_manifest(manifest))?
    } else {
        Vec::new()
    };
    let output = match manifest.task {
        Task::Classification => manifest.outputs.probabilities.clone(),
        Task::Regression => manifest.outputs.score.clone(),
    }
    .unwrap_or_default();
    lowering::keep_outputs(&mut proto, &[&output])?;
    lowering::lower_with(&mut proto, own_products)?;
    let rounding = Rounding {
        input: lowering::take_input_quantization(&mut proto),
        output: lowering::take_output_quantization(&mut proto),
    };
    Ok(Prepared {
        proto,
        rounding,
        refuses_unknown,
        output,
    })
}

/// An unsupported graph's error names every node the engine lacks, when it can.
fn unsupported_nodes(error: PredictError, proto: &ModelProto) -> PredictError {
    match error {
        PredictError::Unsupported(first) => {
            let nodes = crate::check::unsupported_nodes(proto);
            PredictError::Unsupported(if nodes.is_empty() {
                first
            } else {
                crate::check::describe(&nodes)
            })
        }
        other => other,
    }
}

/// `model` compiled for the runtime as wasm runs it (our product kernels fused in, whatever the
/// host), for a bundle's `model.plan`; `Unsupported` names what the runtime lacks.
pub fn compile_model(manifest: &Manifest, model: &[u8]) -> Result<CompiledModel> {
    let prepared = prepare(manifest, model, true)?;
    let typed = type_graph(&prepared.proto, Some(&manifest.row_shape())).map_err(|e| {
        unsupported_nodes(
            PredictError::Unsupported(format!("typing the graph: {e:#}")),
            &prepared.proto,
        )
    })?;
    let plan = compile_typed(typed.model, &prepared.rounding)
        .map_err(|e| PredictError::Unsupported(format!("the runtime cannot run this model: {e}")))?;
    Ok(CompiledModel {
        plan,
        refuses_unknown: prepared.refuses_unknown,
    })
}

/// A typed model's plan, decluttered and compiled, with the roundings as nodes.
fn compile_typed(model: TypedModel, rounding: &Rounding) -> std::result::Result<Plan, String> {
    let grid = |r: &Option<FakeQuantize>| r.as_ref().map(FakeQuantize::grid);
    let plan = model
        .into_decluttered()
        .map_err(|e| e.to_string())
        .and_then(|m| crate::compile::compile(&m))?;
    Ok(crate::compile::with_roundings(
        plan,
        grid(&rounding.input),
        grid(&rounding.output),
    ))
}

fn build_plans(proto: &ModelProto, manifest: &Manifest, rounding: &Rounding) -> Result<(Engine, Batching)> {
    let unsupported = |stage: &str, e: TractError| PredictError::Unsupported(format!("{stage}: {e:#}"));
    let typed = type_graph(proto, Some(&manifest.row_shape())).map_err(|e| unsupported("typing the graph", e))?;
    let mut why = None;
    if COMPILED_PLANS {
        // A graph with an op the runtime lacks keeps tract's plans.
        let compiled =
            compile_typed(typed.model.clone(), rounding).and_then(|plan| Runner::new(plan).map_err(|e| e.to_string()));
        match compiled {
            Ok(runner) => return Ok((Engine::Compiled(Box::new(runner)), typed.batching)),
            Err(e) => why = Some(e),
        }
    }
    let single = match typed.batching {
        Batching::Any => {
            let batch = typed.model.symbols.sym(BATCH_SYMBOL);
            typed.model.set_symbols(&HashMap::from([(batch, 1.to_dim())]))
        }
        Batching::Fixed(_) => Ok(typed.model.clone()),
    }
    .and_then(|m| m.into_optimized())
    .and_then(|m| m.into_runnable())
    .and_then(|p| p.spawn())
    .map_err(|e| unsupported("planning for one row", e))?;
    let engine = Engine::Tract {
        single: Box::new(single),
        batch: BatchPlan::Pending(typed.model),
        why,
    };
    Ok((engine, typed.batching))
}

/// Runs `rows` rows on our runtime's plan.
fn run_compiled(runner: &mut Runner, flat: &[f32], rows: usize) -> Result<Vec<f32>> {
    let (output, _) = runner
        .run(flat, rows)
        .map_err(|e| PredictError::Inference(e.to_string()))?;
    Ok(output.to_vec())
}

/// Runs `rows` rows on tract's plan.
fn run(state: &mut TypedSimpleState, flat: &[f32], rows: usize, row_shape: &[usize]) -> Result<Vec<f32>> {
    let failed = |e: TractError| PredictError::Inference(format!("{e:#}"));
    let shape: Vec<usize> = std::iter::once(rows).chain(row_shape.iter().copied()).collect();
    let input = Tensor::from_shape(&shape, flat).map_err(failed)?;
    let outputs = state.run(tvec!(input.into())).map_err(failed)?;
    let output = outputs
        .first()
        .ok_or_else(|| PredictError::Inference("the model gave no output".into()))?;
    let values = output.cast_to::<f32>().map_err(failed)?;
    let view = values.to_plain_array_view::<f32>().map_err(failed)?;
    Ok(view.iter().copied().collect())
}

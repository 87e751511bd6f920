//! Loading a bundle from `model.onnx`: the graph read, checked against the manifest, lowered and
//! typed with tract, then compiled for our runtime, or run on tract's plans where the runtime
//! lacks an op. Also what `bundle` uses to write a bundle's `model.plan` ([`compile_model`]).

use std::collections::HashMap;

use tract_onnx::pb::{type_proto, ModelProto};
use tract_onnx::prelude::*;

use super::{Engine, Predictor};
use crate::batching::Batching;
use crate::error::{PredictError, Result};
use crate::fixtures::check_fixtures;
use crate::hash::sha256_hex;
use crate::lowering;
use crate::manifest::{Manifest, Task};
use crate::onnx::read_proto;
use crate::ops::fake_quantize::FakeQuantize;
use crate::plan_file::CompiledModel;
use crate::typing::{type_graph, BATCH_SYMBOL};
use wasm_predict_runtime::{Plan, Runner};

/// Whether the predictor runs graphs on our runtime ([`crate::compile`]) rather than on tract's
/// plans: where our product kernels are in the graph too ([`lowering::OWN_PRODUCTS`]), so in
/// wasm; natively tract's AVX2 kernels are faster.
pub const COMPILED_PLANS: bool = lowering::OWN_PRODUCTS;

/// The plan for any batch size: the typed model until the first batch, then its running state.
enum BatchPlan {
    Pending(TypedModel),
    Ready(Box<TypedSimpleState>),
}

/// tract's plans for a graph: one for a single row, one for batches, and the roundings the
/// lowering took out of the graph.
pub(super) struct TractEngine {
    single: Box<TypedSimpleState>,
    batch: BatchPlan,
    rounding: Rounding,
    /// Why the graph does not run on our runtime though it was tried: the node it lacks.
    pub(super) why: Option<String>,
}

impl TractEngine {
    /// Runs `rows` rows on the plan made for one row (or a graph's fixed batch size).
    pub(super) fn run_single(&mut self, flat: &[f32], rows: usize, row_shape: &[usize]) -> Result<Vec<f32>> {
        let single = &mut self.single;
        self.rounding.around(flat, |x| run(single, x, rows, row_shape))
    }

    /// Runs `rows` rows on the plan for any batch size, optimized on the first batch.
    pub(super) fn run_batch(&mut self, flat: &[f32], rows: usize, row_shape: &[usize]) -> Result<Vec<f32>> {
        if let BatchPlan::Pending(typed) = &self.batch {
            let state = typed
                .clone()
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .and_then(|p| p.spawn())
                .map_err(|e| PredictError::Unsupported(format!("planning for batches: {e:#}")))?;
            self.batch = BatchPlan::Ready(Box::new(state));
        }
        let BatchPlan::Ready(state) = &mut self.batch else {
            return Err(PredictError::Inference("the batch plan is missing".into()));
        };
        self.rounding.around(flat, |x| run(state, x, rows, row_shape))
    }
}

/// The roundings to an int8 grid that the graph started or ended with, taken out of it (see
/// [`lowering::take_input_quantization`]) and applied as values go in and out.
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
        let (engine, batching) = build_plans(&proto, &manifest, rounding).map_err(|e| unsupported_nodes(e, &proto))?;
        let mut predictor = Predictor {
            manifest,
            engine,
            batching,
            trees,
            refuses_unknown,
        };
        predictor.check_output_width()?;
        Ok(predictor)
    }
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

fn build_plans(proto: &ModelProto, manifest: &Manifest, rounding: Rounding) -> Result<(Engine, Batching)> {
    let unsupported = |stage: &str, e: TractError| PredictError::Unsupported(format!("{stage}: {e:#}"));
    let typed = type_graph(proto, Some(&manifest.row_shape())).map_err(|e| unsupported("typing the graph", e))?;
    let mut why = None;
    if COMPILED_PLANS {
        // A graph with an op the runtime lacks keeps tract's plans.
        let compiled =
            compile_typed(typed.model.clone(), &rounding).and_then(|plan| Runner::new(plan).map_err(|e| e.to_string()));
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
    let engine = Engine::Tract(Box::new(TractEngine {
        single: Box::new(single),
        batch: BatchPlan::Pending(typed.model),
        rounding,
        why,
    }));
    Ok((engine, typed.batching))
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

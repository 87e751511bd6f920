//! Typing a graph for the engine, one way for the pre-flight check and for loading, so that the
//! two agree: the input's first dimension becomes a symbol (any number of rows), unless the graph
//! only types with the batch size it was exported with (`torch.onnx.export` without
//! `dynamic_axes` writes `[1, ...]` and reshapes to `[1, -1]`): then that size is kept and rows go
//! through in groups of it.

use tract_onnx::pb::{type_proto, ModelProto, ValueInfoProto};
use tract_onnx::prelude::*;

use crate::batching::Batching;
use crate::onnx::with_onnx;

/// The symbol of the batch dimension in every plan that takes any number of rows.
pub const BATCH_SYMBOL: &str = "N";

/// A graph typed for the engine, and how it takes rows.
pub struct Typed {
    /// The typed, decluttered model.
    pub model: TypedModel,
    /// How it takes rows.
    pub batching: Batching,
}

/// The graph's inputs, initializers excluded.
pub fn graph_inputs(proto: &ModelProto) -> Vec<&ValueInfoProto> {
    let Some(graph) = proto.graph.as_ref() else {
        return vec![];
    };
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .collect()
}

/// The dimensions an input declares: `Some(n)` for a fixed size, `None` for a symbolic or unknown
/// one; `None` when it declares no shape.
pub fn declared_dims(input: &ValueInfoProto) -> Option<Vec<Option<usize>>> {
    let Some(type_proto::Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return None;
    };
    let shape = t.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
                _ => None,
            })
            .collect(),
    )
}

/// Types `proto` with its first input's rows of `row_shape` (the manifest's; without one, the
/// shape the graph declares, a symbol for each open dimension): first with any number of rows,
/// then, if that fails and the graph fixes its batch size, with that size.
pub fn type_graph(proto: &ModelProto, row_shape: Option<&[usize]>) -> TractResult<Typed> {
    let model = with_onnx(|onnx| onnx.model_for_proto_model(proto))?;
    let inputs = graph_inputs(proto);
    let declared: Vec<Option<Vec<Option<usize>>>> = inputs.iter().map(|i| declared_dims(i)).collect();
    let attempt = |fixed_batch: Option<usize>| -> TractResult<TypedModel> {
        let mut model = model.clone();
        for (ix, dims) in declared.iter().enumerate() {
            let shape: TVec<TDim> = match (ix, row_shape, dims) {
                (0, Some(row), _) => std::iter::once(batch_dim(&mut model, fixed_batch))
                    .chain(row.iter().map(|d| d.to_dim()))
                    .collect(),
                (_, _, None) => continue,
                (_, _, Some(dims)) => dims
                    .iter()
                    .enumerate()
                    .map(|(d, size)| match (ix, d, size) {
                        (0, 0, _) => batch_dim(&mut model, fixed_batch),
                        (_, _, Some(n)) => n.to_dim(),
                        (_, _, None) => model.sym(&format!("d{ix}_{d}")).into(),
                    })
                    .collect(),
            };
            let fact = model.input_fact(ix)?.clone().with_shape(shape);
            model.set_input_fact(ix, fact)?;
        }
        model.into_typed()?.into_decluttered()
    };
    let exported = declared
        .first()
        .and_then(|d| d.as_ref())
        .and_then(|d| d.first().copied().flatten());
    let any = attempt(None);
    // A graph typed with any number of rows must also give one output row per input row: one
    // that reshapes to its exported batch size types, then fails on a batch of another size.
    let keeps_rows = |model: &TypedModel| {
        let batch = TDim::from(model.symbols.sym(BATCH_SYMBOL));
        model
            .output_fact(0)
            .is_ok_and(|fact| fact.shape.iter().next() == Some(&batch))
    };
    match (any, exported) {
        (Ok(model), Some(rows)) if !keeps_rows(&model) => Ok(Typed {
            model: attempt(Some(rows))?,
            batching: Batching::Fixed(rows),
        }),
        (Ok(model), _) => Ok(Typed {
            model,
            batching: Batching::Any,
        }),
        (Err(_), Some(rows)) => Ok(Typed {
            model: attempt(Some(rows))?,
            batching: Batching::Fixed(rows),
        }),
        (Err(e), None) => Err(e),
    }
}

fn batch_dim(model: &mut InferenceModel, fixed: Option<usize>) -> TDim {
    match fixed {
        Some(rows) => rows.to_dim(),
        None => model.sym(BATCH_SYMBOL).into(),
    }
}

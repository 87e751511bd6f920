//! Reading a model: the ONNX parse with our op register.
//! Every module that reads a graph comes here, so none of them imports the predictor.

use std::io::Cursor;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::Onnx;

use crate::error::{PredictError, Result};

thread_local! {
    // Building tract's op register costs about 50 ms in wasm: once per thread.
    static ONNX: Onnx = {
        let mut onnx = tract_onnx::onnx();
        crate::ops::register(&mut onnx);
        onnx
    };
}

/// Runs `f` with this thread's ONNX op register (tract's, plus [`crate::ops`]).
pub(crate) fn with_onnx<R>(f: impl FnOnce(&Onnx) -> R) -> R {
    ONNX.with(f)
}

/// Parses ONNX bytes, refusing an empty file, a graph without nodes, and raw data the engine
/// cannot read (tract 0.23 panics on it).
pub fn read_proto(model: &[u8]) -> Result<ModelProto> {
    if model.is_empty() {
        return Err(PredictError::ModelInvalid("the model is empty (0 bytes)".into()));
    }
    let proto = with_onnx(|onnx| onnx.proto_model_for_read(&mut Cursor::new(model)))
        .map_err(|e| PredictError::ModelInvalid(format!("{e:#}")))?;
    let graph = match &proto.graph {
        Some(g) if !g.node.is_empty() => g,
        _ => {
            return Err(PredictError::ModelInvalid(
                "the file decodes to a model with no graph nodes".into(),
            ))
        }
    };
    // tract 0.23 reaches `unimplemented!` (a panic, fatal in wasm) on raw data of other types.
    use tract_onnx::pb::tensor_proto::DataType as T;
    let raw_types = [
        T::Float,
        T::Uint8,
        T::Int8,
        T::Uint16,
        T::Int16,
        T::Int32,
        T::Int64,
        T::Bool,
        T::Float16,
        T::Double,
        T::Uint32,
        T::Uint64,
    ];
    if let Some(t) = graph
        .initializer
        .iter()
        .find(|t| !t.raw_data.is_empty() && !raw_types.iter().any(|d| *d as i32 == t.data_type))
    {
        return Err(PredictError::Unsupported(format!(
            "initializer {:?} holds raw data of ONNX element type {}, which the engine cannot read",
            t.name, t.data_type
        )));
    }
    Ok(proto)
}

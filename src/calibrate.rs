//! Calibration for static quantization: runs the float graph on sample rows and reports the range
//! of named intermediate tensors, with the same reading and lowering as the predictor.

use std::collections::HashMap;

use tract_onnx::pb::{ModelProto, ValueInfoProto};
use tract_onnx::prelude::*;

use crate::error::{PredictError, Result};
use crate::lowering;
use crate::onnx::{read_proto, with_onnx};

/// The (min, max) of each tensor in `tensors` when `model` runs on `rows` (flat, each row of
/// `row_shape`), in the order asked; NaNs are ignored, a tensor with no finite value gives (0, 0).
pub fn tensor_ranges(model: &[u8], row_shape: &[usize], rows: &[f32], tensors: &[String]) -> Result<Vec<(f32, f32)>> {
    let width: usize = row_shape.iter().product();
    if width == 0 || !rows.len().is_multiple_of(width) || rows.is_empty() {
        return Err(PredictError::InputShape(format!(
            "{} calibration values do not make rows of {width}",
            rows.len()
        )));
    }
    let mut proto: ModelProto = read_proto(model)?;
    lowering::lower(&mut proto)?;
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| PredictError::ModelInvalid("no graph".into()))?;
    graph.output = tensors
        .iter()
        .map(|name| ValueInfoProto {
            name: name.clone(),
            ..ValueInfoProto::default()
        })
        .collect();
    let failed = |stage: &str, e: TractError| PredictError::Unsupported(format!("calibration, {stage}: {e:#}"));
    let count = rows.len() / width;
    let shape: Vec<usize> = std::iter::once(count).chain(row_shape.iter().copied()).collect();
    let plan = with_onnx(|onnx| onnx.model_for_proto_model(&proto))
        .and_then(|m| {
            m.with_input_fact(
                0,
                InferenceFact::dt_shape(
                    f32::datum_type(),
                    shape.iter().map(|&d| d.to_dim()).collect::<TVec<_>>(),
                ),
            )
        })
        .and_then(|m| m.into_typed())
        .and_then(|m| m.into_runnable())
        .map_err(|e| failed("planning", e))?;
    let input = Tensor::from_shape(&shape, rows).map_err(|e| failed("input", e))?;
    let outputs = plan.run(tvec!(input.into())).map_err(|e| failed("running", e))?;
    let by_name: HashMap<&String, &TValue> = tensors.iter().zip(outputs.iter()).collect();
    tensors
        .iter()
        .map(|name| {
            let values = by_name
                .get(name)
                .ok_or_else(|| PredictError::Inference(format!("no value for {name}")))?;
            let values = values.cast_to::<f32>().map_err(|e| failed("reading", e))?;
            let view = values.to_plain_array_view::<f32>().map_err(|e| failed("reading", e))?;
            Ok(view
                .iter()
                .filter(|v| v.is_finite())
                .fold(None, |range: Option<(f32, f32)>, &v| {
                    Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
                })
                .unwrap_or((0.0, 0.0)))
        })
        .collect()
}

//! `model.plan`: a bundle's model compiled for the runtime ([`crate::compile`]), stored beside
//! `model.onnx` and covered by the manifest's `plan.sha256`, so that a predictor loads it without
//! the ONNX importer.
//!
//! The file is 8 bytes of magic, the format as a little-endian u32, then the [`CompiledModel`]
//! in postcard. Weights are stored as the models give them, not in a kernel's layout, and every
//! kernel is made again from them on load, with the checks a new one gets.

use serde::{Deserialize, Serialize};
use wasm_predict_runtime::{Dim, Plan};

use crate::error::{PredictError, Result};
use crate::manifest::PLAN_FILE;

/// The first bytes of every plan file.
pub const MAGIC: &[u8; 8] = b"wpplan\r\n";

/// The format this build writes and reads.
pub const PLAN_FORMAT: u32 = 1;

/// What a plan file holds: the plan, with the input's and output's roundings folded in as
/// nodes, and what the predictor checks of the rows beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompiledModel {
    /// The graph, compiled.
    pub plan: Plan,
    /// Row positions of string categories whose encoder refuses unknown ones (onnxruntime fails
    /// such a row).
    pub refuses_unknown: Vec<usize>,
}

impl CompiledModel {
    /// The batch size the graph fixes, when rows must go through in groups of it.
    pub fn fixed_batch(&self) -> Option<usize> {
        match self.plan.input_shape.first() {
            Some(Dim { per_row: 0, fixed }) => Some(*fixed),
            _ => None,
        }
    }
}

/// The bytes of a plan file.
pub fn encode(model: &CompiledModel) -> Result<Vec<u8>> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(PLAN_FORMAT.to_le_bytes());
    let body =
        postcard::to_allocvec(model).map_err(|e| PredictError::PlanInvalid(format!("writing {PLAN_FILE}: {e}")))?;
    bytes.extend(body);
    Ok(bytes)
}

/// Whether `bytes` start as a plan file does (an ONNX file cannot: its first byte is a protobuf
/// field tag, never `w`, whose wire type 7 does not exist).
pub fn is_plan(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Reads a plan file; every kernel in it is made again and checked.
pub fn decode(bytes: &[u8]) -> Result<CompiledModel> {
    let invalid = PredictError::PlanInvalid;
    let (magic, rest) = bytes.split_at_checked(MAGIC.len()).unwrap_or((bytes, &[]));
    if magic != MAGIC {
        return Err(invalid(format!(
            "not a compiled plan ({} bytes, which do not start as a plan file does)",
            bytes.len()
        )));
    }
    let (format, body) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid("the file ends before its format".into()))?;
    let format = u32::from_le_bytes(*format);
    if format != PLAN_FORMAT {
        return Err(invalid(format!(
            "format {format}, this build reads format {PLAN_FORMAT}: make the bundle's plan again with \
             `wasm-predict plan BUNDLE` (or load model.onnx with the full build)"
        )));
    }
    let (model, left): (CompiledModel, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| invalid(format!("the plan is damaged: {e}")))?;
    if !left.is_empty() {
        return Err(invalid(format!("{} bytes follow the plan", left.len())));
    }
    model
        .plan
        .check()
        .map_err(|e| invalid(format!("the plan does not hold together: {e}")))?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_fetches_plans_of_the_format_this_build_reads() {
        let shell = include_str!("../www/shell/bundle-cache.js");
        assert!(
            shell.contains(&format!("export const PLAN_FORMAT = {PLAN_FORMAT};")),
            "www/shell/bundle-cache.js must state PLAN_FORMAT = {PLAN_FORMAT}"
        );
    }

    #[test]
    fn plans_are_told_from_onnx_by_their_first_bytes() {
        assert!(is_plan(b"wpplan\r\n\x01\x00\x00\x00"));
        assert!(!is_plan(b"\x08\x07\x12\x07pytorch"));
        assert!(!is_plan(b""));
    }
}

//! `plan`: compiles a bundle's model for the runtime (`model.plan`, what the browser loads
//! without the ONNX importer), states it in the manifest, and checks that the plan passes the
//! bundle's fixtures before anything is written.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use wasm_predict::plan_file::{self, PLAN_FORMAT};
use wasm_predict::predictor::compile_model;
use wasm_predict::Predictor;
use wasm_predict_manifest::{CompiledPlan, Manifest, MemoryRequirement, MEMORY_BATCH_ROWS, PLAN_FILE};

use crate::verify::read_bundle;

/// What `plan` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    /// The bundle folder.
    pub path: PathBuf,
    /// `name@version`.
    pub model: String,
    /// Size of `model.plan`.
    pub bytes: usize,
    /// Size of `model.onnx`, for comparison.
    pub onnx_bytes: usize,
    /// Nodes in the plan.
    pub nodes: usize,
    /// sha256 of `model.plan`, as the manifest now states it.
    pub sha256: String,
    /// The memory requirement, measured again with the plan.
    pub memory: MemoryRequirement,
}

/// The plan of `model` for `manifest` as file bytes, and the manifest that states it; the plan
/// is loaded back and must pass the manifest's fixtures.
pub fn compiled(manifest: &Manifest, model: &[u8]) -> Result<(Vec<u8>, Manifest, usize)> {
    let compiled = compile_model(manifest, model).map_err(|e| anyhow!("{e}"))?;
    let nodes = compiled.plan.nodes.len();
    let bytes = plan_file::encode(&compiled).map_err(|e| anyhow!("{e}"))?;
    let mut stated = manifest.clone();
    stated.plan = Some(CompiledPlan {
        format: PLAN_FORMAT,
        sha256: wasm_predict::hash::sha256_hex(&bytes),
    });
    let json = serde_json::to_vec(&stated)?;
    Predictor::load_compiled(&json, &bytes).map_err(|e| anyhow!("the plan does not load back: {e}"))?;
    Ok((bytes, stated, nodes))
}

/// Compiles the bundle at `dir`: writes `model.plan` and the manifest's `plan` entry (the rest
/// of the manifest unchanged, in the layout it had).
pub fn write_plan(dir: &Path) -> Result<PlanSummary> {
    let (json, model) = read_bundle(dir)?;
    Predictor::load(&json, &model).map_err(|e| anyhow!("{}: the bundle does not load: {e}", dir.display()))?;
    let manifest = Manifest::from_json(&json).map_err(|e| anyhow!("{e}"))?;
    let (bytes, stated, nodes) = compiled(&manifest, &model).with_context(|| dir.display().to_string())?;
    let mut stated = stated;
    let text = with_entry(&json, "plan", &stated)?;
    std::fs::write(dir.join(PLAN_FILE), &bytes)
        .with_context(|| format!("writing {}", dir.join(PLAN_FILE).display()))?;
    std::fs::write(dir.join("manifest.json"), &text)?;
    // The browser now loads the plan: the memory requirement is measured again from it, as
    // `bundle` measures it from the files it writes.
    let measured = crate::memory::measure(dir).context("measuring the bundle's memory with its plan")?;
    let memory = crate::memory::requirement_for(measured);
    stated.memory = Some(memory.clone());
    std::fs::write(dir.join("manifest.json"), with_entry(&text, "memory", &stated)?)?;
    Ok(PlanSummary {
        path: dir.to_path_buf(),
        model: stated.id(),
        bytes: bytes.len(),
        onnx_bytes: model.len(),
        nodes,
        sha256: stated.plan.map(|p| p.sha256).unwrap_or_default(),
        memory,
    })
}

/// The manifest's text with its `key` entry (an object of plain values: `plan`, `memory`) set to
/// `stated`'s, everything else as it was written (numbers, layout); the whole manifest written
/// anew if the text is not laid out as this expects.
fn with_entry(json: &[u8], key: &str, stated: &Manifest) -> Result<Vec<u8>> {
    let Some(value) = serde_json::to_value(stated)?
        .get(key)
        .filter(|v| v.is_object())
        .cloned()
    else {
        return Ok(serde_json::to_vec_pretty(stated)?);
    };
    let text = String::from_utf8_lossy(json);
    let pretty = text.contains("\n  \"");
    let entry = if pretty {
        format!(
            "\"{key}\": {}",
            serde_json::to_string_pretty(&value)?.replace('\n', "\n  ")
        )
    } else {
        format!("\"{key}\":{}", serde_json::to_string(&value)?)
    };
    let edited = match text.find(&format!("\"{key}\"")) {
        // The entry holds no nested object: it ends at the first closing brace.
        Some(start) => text[start..]
            .find('}')
            .map(|end| format!("{}{entry}{}", &text[..start], &text[start + end + 1..])),
        // First in the manifest's object: a search for another key could land in a nested one.
        None => text.find('{').map(|open| {
            let indent = if pretty { "\n  " } else { "" };
            format!("{}{indent}{entry},{}", &text[..=open], &text[open + 1..])
        }),
    };
    match edited {
        // Compared as JSON: a missing value (NaN) is never equal to itself as a number.
        Some(edited)
            if Manifest::from_json(edited.as_bytes())
                .ok()
                .and_then(|m| serde_json::to_value(m).ok())
                == serde_json::to_value(stated).ok() =>
        {
            Ok(edited.into_bytes())
        }
        _ => {
            let mut text = serde_json::to_vec_pretty(stated)?;
            text.push(b'\n');
            Ok(text)
        }
    }
}

/// The summary as text.
pub fn render(s: &PlanSummary) -> String {
    format!(
        "wrote {} ({}): {} nodes, {} bytes (model.onnx {} bytes), passes the fixtures\n  sha256 {}\n  memory: {} bytes at the peak of load, verify and a {MEMORY_BATCH_ROWS}-row batch with the plan; maximum {} bytes\n",
        s.path.join(PLAN_FILE).display(),
        s.model,
        s.nodes,
        s.bytes,
        s.onnx_bytes,
        s.sha256,
        s.memory.measured_bytes.unwrap_or_default(),
        s.memory.maximum_bytes
    )
}

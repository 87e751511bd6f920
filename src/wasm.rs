//! The WebAssembly bindings: a thin layer that converts arguments and errors, over the core.
//!
//! Errors reach JS as `Error` objects named `PredictError` with a stable `code` property
//! (see [`PredictError::code`]).

use js_sys::{Float32Array, Reflect, Uint32Array, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::PredictError;
use crate::manifest::ManifestError;

/// The system allocator, counting: the bytes of live allocations and their peak, which
/// [`heap_stats`] reports and the shell's load-time check reads.
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[wasm_bindgen(start)]
fn start() {
    run_constructors_once();
    console_error_panic_hook::set_once();
}

/// Runs the module's static constructors (the full entry's tract registers its kernels through
/// `inventory`) once, at instantiation. A module that never calls `__wasm_call_ctors` itself gets
/// a call to it wrapped around every export by wasm-ld: each `predict`, getter and `free` then ran
/// about a hundred constructors again, half the time of a small model's prediction.
#[allow(unsafe_code)]
fn run_constructors_once() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: a function wasm-ld synthesizes, without arguments; called once, from the start
    // function, before any other export.
    unsafe { __wasm_call_ctors() }
}

/// What this instance's heap and memory hold now, in bytes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeapStats {
    live_bytes: f64,
    peak_bytes: f64,
    memory_bytes: f64,
}

/// This instance's heap and memory, in bytes: `liveBytes` allocated now, `peakBytes` the most
/// allocated at once since the last [`reset_heap_peak`] (or since start), `memoryBytes` the size of
/// its linear memory (which only grows, by 64 KiB pages, and holds the heap, the stack and the
/// module's data).
#[wasm_bindgen(js_name = heapStats, unchecked_return_type = "HeapStats")]
pub fn heap_stats() -> Result<JsValue, JsValue> {
    to_js(&HeapStats {
        live_bytes: HEAP.current_usage() as f64,
        peak_bytes: HEAP.peak_usage() as f64,
        memory_bytes: (core::arch::wasm32::memory_size::<0>() as f64) * 65536.0,
    })
}

/// Starts a new peak: `heapStats().peakBytes` is then the bytes allocated now.
#[wasm_bindgen(js_name = resetHeapPeak)]
pub fn reset_heap_peak() {
    HEAP.reset_peak_usage();
}

/// The manifest's types, generated from its JSON Schema (`scripts/gen-types.mjs`).
#[wasm_bindgen(typescript_custom_section)]
const MANIFEST_TYPES: &str = include_str!("types/manifest.d.ts");

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Codes of the errors a `Predictor` throws, in `error.code`. */
export type PredictErrorCode =
  | "MODEL_INVALID" | "HASH_MISMATCH" | "MANIFEST_INVALID" | "GRAPH_MISMATCH" | "MODEL_UNSUPPORTED"
  | "FIXTURE_FAILED" | "INPUT_SHAPE" | "INPUT_DTYPE" | "INPUT_NOT_FINITE" | "INFERENCE_FAILED";

/** The errors a `Predictor` throws. */
export interface PredictError extends Error {
  name: "PredictError";
  code: PredictErrorCode;
}

/**
 * How the engine runs a bundle: any number of rows per call, or (a graph exported with a fixed
 * batch size) groups of `rows`, the last padded.
 */
export type RuntimeInfo = { batch: "any" } | { batch: "fixed"; rows: number };

/**
 * One row of a model's features by name, for models that take records (several named inputs,
 * integers, string categories): numbers, integers, strings; `null` is a missing value (a missing
 * or unknown category is passed to the model's encoder as unknown). Keys the model does not take
 * are ignored.
 */
export type FeatureRecord = Record<string, number | string | null>;

/** What `Predictor.check()` reports: can the engine run every node of a model? */
export interface SupportReport {
  nodes: number;
  ops: Record<string, Record<string, number>>;
  unsupported: { name: string; op: string; domain: string; reason: string }[];
  supported: boolean;
  /** The batch size the graph fixes, when rows must go through in groups of it. */
  fixedBatch?: number;
}

/** What `heapStats()` reports, in bytes. */
export interface HeapStats {
  /** Allocated now. */
  liveBytes: number;
  /** The most allocated at once since `resetHeapPeak()` (or since the module started). */
  peakBytes: number;
  /** The size of the instance's linear memory: it only grows, by 64 KiB pages. */
  memoryBytes: number;
}

/** What `Predictor.verify()` reports. */
export interface VerificationReport {
  model: string;
  tolerance: number;
  fixtures: { index: number; maxAbsDiff: number; expectedLabel?: string; label?: string; passed: boolean }[];
  performance: { metric: "accuracy" | "r2"; minimum: number; achieved: number; rows: number; passed: boolean };
  passed: boolean;
}
"#;

/// A model bundle loaded and checked, ready to predict.
#[wasm_bindgen]
pub struct Predictor {
    inner: crate::Predictor,
}

#[wasm_bindgen]
impl Predictor {
    /// Loads a bundle from its manifest (JSON text or bytes) and one of its model files: its
    /// compiled plan (`model.plan`) or, in the full build (`wasm-predict/full`), `model.onnx`.
    /// Checks the sha256, the manifest, the graph, and runs the regression fixtures.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] manifest: JsValue,
        model: &[u8],
    ) -> Result<Predictor, JsValue> {
        let inner = crate::Predictor::load_model_file(&manifest_bytes(&manifest)?, model).map_err(|e| js_error(&e))?;
        Ok(Predictor { inner })
    }

    /// Loads a bundle from its manifest and its compiled plan (`model.plan`, made by
    /// `wasm-predict bundle` or `wasm-predict plan`) instead of `model.onnx`. Checks the plan's
    /// sha256 (the manifest's `plan.sha256`), the manifest, and runs the regression fixtures.
    #[wasm_bindgen(js_name = fromPlan)]
    pub fn from_plan(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] manifest: JsValue,
        plan: &[u8],
    ) -> Result<Predictor, JsValue> {
        let inner = crate::Predictor::load_compiled(&manifest_bytes(&manifest)?, plan).map_err(|e| js_error(&e))?;
        Ok(Predictor { inner })
    }

    /// Loads the default int8 digits model compiled into the package.
    #[wasm_bindgen(js_name = withDefaultModel)]
    pub fn with_default_model() -> Result<Predictor, JsValue> {
        let inner = crate::default_bundle::load().map_err(|e| js_error(&e))?;
        Ok(Predictor { inner })
    }

    /// Checks whether the engine can run every node of an ONNX model, without a manifest:
    /// a report naming every unsupported node. Throws only for bytes that are not ONNX.
    /// Only in the full build (`wasm-predict/full`).
    #[cfg(feature = "onnx")]
    #[wasm_bindgen(unchecked_return_type = "SupportReport")]
    pub fn check(model: &[u8]) -> Result<JsValue, JsValue> {
        let report = crate::check_model(model).map_err(|e| js_error(&e))?;
        to_js(&report)
    }

    /// Predicts one row: a `Float32Array` of `featureCount` values in input order, or a record
    /// of the features by name (`{age: 41, city: "Lyon"}`).
    pub fn predict(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | FeatureRecord")] features: JsValue,
    ) -> Result<Prediction, JsValue> {
        let prediction = match features.dyn_ref::<Float32Array>() {
            Some(row) => self.inner.predict(&row.to_vec()),
            None if is_record(&features) => self.inner.predict_record(&record_of(&features)?),
            None => self.inner.predict(&float32_values(&features)?),
        };
        Ok(Prediction(prediction.map_err(|e| js_error(&e))?))
    }

    /// Predicts a batch: `rows` rows given one after the other in a `Float32Array`, or an array
    /// of records (`rows` then optional).
    #[wasm_bindgen(js_name = predictBatch)]
    pub fn predict_batch(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | FeatureRecord[]")] features: JsValue,
        rows: Option<u32>,
    ) -> Result<BatchPrediction, JsValue> {
        let batch = if features.is_array() {
            let records = js_sys::Array::from(&features)
                .iter()
                .map(|r| record_of(&r))
                .collect::<Result<Vec<_>, JsValue>>()?;
            if rows.is_some_and(|n| n as usize != records.len()) {
                return Err(js_error(&PredictError::InputShape(format!(
                    "rows is {}, but {} records were given",
                    rows.unwrap_or_default(),
                    records.len()
                ))));
            }
            self.inner.predict_records(&records)
        } else {
            let flat = float32_values(&features)?;
            let rows = rows.ok_or_else(|| {
                js_error(&PredictError::InputShape(
                    "a batch of a Float32Array needs its number of rows".into(),
                ))
            })?;
            self.inner.predict_batch(&flat, rows as usize)
        }
        .map_err(|e| js_error(&e))?;
        Ok(BatchPrediction {
            inner: batch,
            classes: self.inner.manifest().classes().to_vec(),
        })
    }

    /// The bundle's manifest, and how the engine runs it (`runtime`).
    #[wasm_bindgen(unchecked_return_type = "Manifest & { runtime: RuntimeInfo }")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        struct Info<'a> {
            #[serde(flatten)]
            manifest: &'a crate::Manifest,
            runtime: serde_json::Value,
        }
        let runtime = match self.inner.batching() {
            crate::batching::Batching::Any => serde_json::json!({ "batch": "any" }),
            crate::batching::Batching::Fixed(rows) => serde_json::json!({ "batch": "fixed", "rows": rows }),
        };
        to_js(&Info {
            manifest: self.inner.manifest(),
            runtime,
        })
    }

    /// Runs the regression fixtures and measures the performance requirement on the holdout.
    #[wasm_bindgen(unchecked_return_type = "VerificationReport")]
    pub fn verify(&mut self) -> Result<JsValue, JsValue> {
        let report = crate::verify(&mut self.inner).map_err(|e| js_error(&e))?;
        to_js(&report)
    }

    /// What the browser shell runs once a bundle is loaded, and what the manifest's `memory`
    /// requirement covers besides the load: `verify()`, then one batch of 256 holdout rows.
    /// Returns verify's report, passed or not.
    #[wasm_bindgen(js_name = loadCheck, unchecked_return_type = "VerificationReport")]
    pub fn load_check(&mut self) -> Result<JsValue, JsValue> {
        let report = crate::memory::exercise(&mut self.inner).map_err(|e| js_error(&e))?;
        to_js(&report)
    }

    /// The manifest's memory requirement, when it states one.
    #[wasm_bindgen(getter, js_name = memoryRequirement, unchecked_return_type = "MemoryRequirement | undefined")]
    pub fn memory_requirement(&self) -> Result<JsValue, JsValue> {
        match &self.inner.manifest().memory {
            Some(memory) => to_js(memory),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// `name@version` of the loaded model.
    #[wasm_bindgen(getter)]
    pub fn model(&self) -> String {
        self.inner.manifest().id()
    }

    /// The model's name, as its manifest gives it.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.manifest().name.clone()
    }

    /// The model's version, as its manifest gives it.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> String {
        self.inner.manifest().version.clone()
    }

    /// `"classification"` or `"regression"`.
    #[wasm_bindgen(getter, unchecked_return_type = "\"classification\" | \"regression\"")]
    pub fn task(&self) -> String {
        match self.inner.manifest().task {
            crate::manifest::Task::Classification => "classification".into(),
            crate::manifest::Task::Regression => "regression".into(),
        }
    }

    /// The first regression fixture's row (a missing value as NaN), to time or warm the model
    /// without reading the whole manifest; `undefined` when the bundle has none.
    #[wasm_bindgen(getter, js_name = firstFixture)]
    pub fn first_fixture(&self) -> Option<Vec<f32>> {
        let case = self.inner.manifest().fixtures.cases.first()?;
        Some(case.input.clone())
    }

    /// sha256 of the loaded `model.onnx`.
    #[wasm_bindgen(getter)]
    pub fn sha256(&self) -> String {
        self.inner.manifest().sha256.clone()
    }

    /// The features' names, in row order (across the inputs of a model that takes records).
    #[wasm_bindgen(getter, js_name = featureNames)]
    pub fn feature_names(&self) -> Vec<String> {
        self.inner
            .manifest()
            .feature_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Number of values in one row.
    #[wasm_bindgen(getter, js_name = featureCount)]
    pub fn feature_count(&self) -> u32 {
        self.inner.manifest().feature_count() as u32
    }

    /// Class labels, in the order of the probabilities (empty for regression).
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> Vec<String> {
        self.inner.manifest().classes().to_vec()
    }
}

/// One prediction: probabilities, label and confidence for a classifier, a value for a regressor.
#[wasm_bindgen]
pub struct Prediction(crate::Prediction);

#[wasm_bindgen]
impl Prediction {
    /// `"classification"` or `"regression"`.
    #[wasm_bindgen(getter, unchecked_return_type = "\"classification\" | \"regression\"")]
    pub fn task(&self) -> String {
        match self.0 {
            crate::Prediction::Classification { .. } => "classification".into(),
            crate::Prediction::Regression { .. } => "regression".into(),
        }
    }

    /// Class probabilities in the order of `Predictor.classes`.
    #[wasm_bindgen(getter)]
    pub fn probabilities(&self) -> Option<Vec<f32>> {
        match &self.0 {
            crate::Prediction::Classification { probabilities, .. } => Some(probabilities.clone()),
            crate::Prediction::Regression { .. } => None,
        }
    }

    /// Label of the most probable class.
    #[wasm_bindgen(getter)]
    pub fn label(&self) -> Option<String> {
        match &self.0 {
            crate::Prediction::Classification { label, .. } => Some(label.clone()),
            crate::Prediction::Regression { .. } => None,
        }
    }

    /// Index of the most probable class.
    #[wasm_bindgen(getter, js_name = labelIndex)]
    pub fn label_index(&self) -> Option<u32> {
        match &self.0 {
            crate::Prediction::Classification { label_index, .. } => Some(*label_index as u32),
            crate::Prediction::Regression { .. } => None,
        }
    }

    /// Probability of the most probable class.
    #[wasm_bindgen(getter)]
    pub fn confidence(&self) -> Option<f32> {
        match &self.0 {
            crate::Prediction::Classification { confidence, .. } => Some(*confidence),
            crate::Prediction::Regression { .. } => None,
        }
    }

    /// The predicted value of a regressor.
    #[wasm_bindgen(getter)]
    pub fn value(&self) -> Option<f32> {
        match &self.0 {
            crate::Prediction::Regression { value } => Some(*value),
            crate::Prediction::Classification { .. } => None,
        }
    }
}

/// Predictions for a batch, in flat typed arrays.
#[wasm_bindgen]
pub struct BatchPrediction {
    inner: crate::BatchPrediction,
    /// The model's classes: labels are made when asked for.
    classes: Vec<String>,
}

#[wasm_bindgen]
impl BatchPrediction {
    /// Number of rows.
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> u32 {
        self.inner.rows as u32
    }

    /// Classification: `rows * classes` probabilities, row after row; regression: one value per row.
    #[wasm_bindgen(getter)]
    pub fn outputs(&self) -> Float32Array {
        Float32Array::from(self.inner.outputs.as_slice())
    }

    /// Classification: each row's label.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.inner
            .label_indices
            .iter()
            .map(|&i| self.classes.get(i as usize).cloned().unwrap_or_default())
            .collect()
    }

    /// Classification: each row's class index.
    #[wasm_bindgen(getter, js_name = labelIndices)]
    pub fn label_indices(&self) -> Uint32Array {
        Uint32Array::from(self.inner.label_indices.as_slice())
    }

    /// Classification: each row's highest probability.
    #[wasm_bindgen(getter)]
    pub fn confidences(&self) -> Float32Array {
        Float32Array::from(self.inner.confidences.as_slice())
    }
}

/// A manifest given as JSON text or bytes.
fn manifest_bytes(manifest: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = manifest.as_string() {
        Ok(text.into_bytes())
    } else if let Some(bytes) = manifest.dyn_ref::<Uint8Array>() {
        Ok(bytes.to_vec())
    } else {
        Err(js_error(&PredictError::from(ManifestError(
            "the manifest must be given as a JSON string or a Uint8Array".into(),
        ))))
    }
}

/// Whether `value` is a plain object, taken as a record of features by name.
fn is_record(value: &JsValue) -> bool {
    value.is_object() && !value.is_array() && !js_sys::ArrayBuffer::is_view(value)
}

fn record_of(value: &JsValue) -> Result<serde_json::Map<String, serde_json::Value>, JsValue> {
    if !is_record(value) {
        return Err(js_error(&PredictError::InputDtype(format!(
            "a record must be an object of features by name, got {}",
            value.js_typeof().as_string().unwrap_or_else(|| "unknown".into())
        ))));
    }
    serde_wasm_bindgen::from_value(value.clone()).map_err(|e| {
        js_error(&PredictError::InputDtype(format!(
            "a record's values must be numbers, strings or null: {e}"
        )))
    })
}

fn float32_values(value: &JsValue) -> Result<Vec<f32>, JsValue> {
    match value.dyn_ref::<Float32Array>() {
        Some(array) => Ok(array.to_vec()),
        None => {
            let kind = if value.is_array() {
                "an Array".to_string()
            } else {
                value.js_typeof().as_string().unwrap_or_else(|| "unknown".into())
            };
            Err(js_error(&PredictError::InputDtype(format!(
                "features must be a Float32Array (or a record of the features by name), got {kind}; wrap it with new Float32Array(...)"
            ))))
        }
    }
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_error(&PredictError::Inference(format!("could not convert to JS: {e}"))))
}

/// The one conversion of core errors into JS: an `Error` named `PredictError` with a `code`.
fn js_error(error: &PredictError) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("PredictError");
    // Reflect::set only fails on frozen or proxied objects; a fresh Error is neither.
    let _ = Reflect::set(&js, &JsValue::from_str("code"), &JsValue::from_str(error.code()));
    js.into()
}

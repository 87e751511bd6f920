//! Running a predictor over a dataset and scoring it: the one place every operation gets its
//! outputs and metrics from, with the same predictor code the browser runs.

use anyhow::{anyhow, Result};
use wasm_predict::Predictor;
use wasm_predict_manifest::{Metric, Target, Task};

/// A model's answers for a set of rows.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Classification or regression.
    pub task: Task,
    /// Outputs per row: the class probabilities, or one value.
    pub width: usize,
    /// `rows × width` outputs.
    pub values: Vec<f32>,
    /// Predicted labels (classification).
    pub labels: Vec<String>,
    /// The predicted label's probability (classification).
    pub confidences: Vec<f32>,
}

impl Outputs {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    /// One row's outputs.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.width..(r + 1) * self.width]
    }
}

/// Rows per batch when running a dataset.
const CHUNK: usize = 512;

/// Runs `inputs` through `predictor` in batches.
pub fn run(predictor: &mut Predictor, inputs: &[Vec<f32>]) -> Result<Outputs> {
    let task = predictor.manifest().task;
    let classes = predictor.manifest().classes().to_vec();
    let width = if task == Task::Classification { classes.len() } else { 1 };
    let mut outputs = Outputs {
        task,
        width,
        values: Vec::with_capacity(inputs.len() * width),
        labels: Vec::new(),
        confidences: Vec::new(),
    };
    for chunk in inputs.chunks(CHUNK) {
        let flat = chunk.concat();
        let batch = predictor
            .predict_batch(&flat, chunk.len())
            .map_err(|e| anyhow!("{e}"))?;
        outputs.values.extend_from_slice(&batch.outputs);
        if task == Task::Classification {
            outputs.labels.extend(
                batch
                    .label_indices
                    .iter()
                    .map(|&i| classes.get(i as usize).cloned().unwrap_or_default()),
            );
            outputs.confidences.extend_from_slice(&batch.confidences);
        }
    }
    Ok(outputs)
}

/// The metric of `outputs` against `targets`: accuracy, or r2. `None` when there are no rows.
pub fn score(metric: Metric, outputs: &Outputs, targets: &[Target]) -> Option<f64> {
    if targets.is_empty() {
        return None;
    }
    match metric {
        Metric::Accuracy => {
            let right = outputs
                .labels
                .iter()
                .zip(targets)
                .filter(|(l, t)| matches!(t, Target::Label(truth) if truth == *l))
                .count();
            Some(right as f64 / targets.len() as f64)
        }
        Metric::R2 => {
            let truth: Vec<f64> = targets
                .iter()
                .map(|t| if let Target::Value(v) = t { *v } else { f64::NAN })
                .collect();
            Some(wasm_predict::verify::r2(&truth, &outputs.values))
        }
    }
}

/// The metric a task is judged by.
pub fn metric_of(task: Task) -> Metric {
    match task {
        Task::Classification => Metric::Accuracy,
        Task::Regression => Metric::R2,
    }
}

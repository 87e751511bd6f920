//! `bundle`: makes a versioned bundle from an ONNX model and a labelled holdout: the sha256, the
//! interface read from the graph, reference statistics per feature and for the predictions,
//! regression fixtures (holdout rows plus edge cases), and the performance requirement measured
//! on the holdout, and the memory requirement measured from the files written. The bundle is then
//! loaded back exactly as the browser would load it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use wasm_predict::{Prediction, Predictor};
use wasm_predict_manifest::{stored_f32, MEMORY_BATCH_ROWS, PLAN_FILE};
use wasm_predict_manifest::{
    Decision, Dim, Dtype, Expected, FeatureHistogram, Fixture, Fixtures, Histogram, Holdout, InputSpec, Manifest,
    MemoryRequirement, Missing, OutputSpec, Performance, PredictionReference, Provenance, Reference, Target, Task,
    TrainingData, MANIFEST_FORMAT,
};

use super::dataset::{Columns, Dataset, RowSchema};
use super::evaluate::{self, metric_of};
use super::graph;
use crate::card::CardRequest;
use crate::threshold::{Goal, Scored};
use wasm_predict::records::InputLayout;
use wasm_predict_manifest::histogram::{category_histogram, quantile_histogram};
use wasm_predict_manifest::record::{kinds_of, FeatureKind};

/// What to bundle.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    /// The ONNX model.
    pub model: PathBuf,
    /// Bundle name (lowercase letters, digits, dashes).
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// The labelled holdout (CSV or Parquet).
    pub data: PathBuf,
    /// Its columns.
    pub columns: Columns,
    /// Force the task (default: read from the graph's outputs).
    pub task: Option<Task>,
    /// The folder of bundles: writes `<out>/<name>/<version>/`.
    pub out: PathBuf,
    /// The requirement is what the holdout reaches minus this margin…
    pub margin: f64,
    /// …unless stated outright.
    pub minimum: Option<f64>,
    /// Holdout rows kept as fixtures (besides the edge cases).
    pub sample: usize,
    /// Fixture tolerance.
    pub tolerance: f32,
    /// Where the training data came from.
    pub training: TrainingData,
    /// The model this one replaces.
    pub parent: Option<String>,
    /// The creation time to record (default now), for reproducible bundles.
    pub created: Option<String>,
    /// Replace an existing bundle of the same name and version.
    pub force: bool,
    /// A binary classifier's decision threshold, or the goal it is chosen for on the holdout,
    /// and the positive class (default: the second).
    pub threshold: Option<(Goal, Option<String>)>,
    /// Write the model card (on the holdout), broken down by these columns.
    pub card: Option<Vec<String>>,
}

/// What `bundle` made.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    /// Where.
    pub path: PathBuf,
    /// `name@version`.
    pub model: String,
    /// sha256 of model.onnx.
    pub sha256: String,
    /// Classification or regression.
    pub task: Task,
    /// Classes, for a classifier.
    pub classes: Vec<String>,
    /// Features.
    pub features: usize,
    /// Holdout rows.
    pub holdout_rows: usize,
    /// Fixtures written.
    pub fixtures: usize,
    /// The metric on the holdout.
    pub achieved: f64,
    /// Size of the compiled plan (`model.plan`), when the runtime can run the model.
    pub plan_bytes: Option<usize>,
    /// Why there is no compiled plan, when there is none.
    pub no_plan: Option<String>,
    /// The requirement written.
    pub minimum: f64,
    /// The memory requirement written.
    pub memory: Option<MemoryRequirement>,
    /// The decision threshold recorded.
    pub decision: Option<Decision>,
    /// The model card's headline, when one was written.
    pub card: Option<String>,
}

fn histogram(values: &[f64]) -> Histogram {
    let (edges, counts) = quantile_histogram(values);
    Histogram { edges, counts }
}

/// Reads the graph's outputs as a task and output names.
fn outputs_of(interface: &graph::Interface, task: Option<Task>) -> Result<(Task, OutputSpec)> {
    let floats: Vec<&graph::TensorInfo> = interface.outputs.iter().filter(|o| o.dtype == "float").collect();
    let labels = interface
        .outputs
        .iter()
        .find(|o| o.dtype == "int64" || o.dtype == "string");
    let wide = floats
        .iter()
        .find(|o| o.shape.len() == 2 && o.shape[1] != "1")
        .or_else(|| floats.iter().find(|o| o.name.contains("prob")));
    let task = match task {
        Some(task) => task,
        None if wide.is_some() => Task::Classification,
        None if !floats.is_empty() => Task::Regression,
        None => bail!("the model has no float output: neither class probabilities nor a value"),
    };
    Ok(match task {
        Task::Classification => {
            let probabilities = wide
                .or(floats.first())
                .ok_or_else(|| anyhow!("a classifier needs a float probabilities output"))?;
            (
                task,
                OutputSpec {
                    probabilities: Some(probabilities.name.clone()),
                    label: labels.map(|l| l.name.clone()),
                    score: None,
                    classes: None,
                },
            )
        }
        Task::Regression => {
            let score = floats
                .first()
                .ok_or_else(|| anyhow!("a regressor needs a float output"))?;
            (
                task,
                OutputSpec {
                    probabilities: None,
                    label: None,
                    score: Some(score.name.clone()),
                    classes: None,
                },
            )
        }
    })
}

/// Class labels: declared by the graph, else the distinct labels of the data (numerically
/// sorted when they are all integers, as scikit-learn orders them).
fn classes_of(model: &tract_onnx::pb::ModelProto, targets: &[Target]) -> Vec<String> {
    if let Some(classes) = graph::declared_classes(model) {
        return classes;
    }
    let mut labels: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            if let Target::Label(l) = t {
                Some(l.clone())
            } else {
                None
            }
        })
        .collect();
    labels.sort_by(|a, b| match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    labels.dedup();
    labels
}

/// Holdout rows spread evenly, the first row of each class, and three edge cases: all zeros,
/// every feature at its holdout minimum, every feature at its maximum.
fn fixture_inputs(data: &Dataset, sample: usize, classes: &[String]) -> Vec<Vec<f32>> {
    let rows = data.inputs.len();
    let mut picked: Vec<usize> = (0..sample.min(rows))
        .map(|i| i * rows / sample.min(rows).max(1))
        .collect();
    if let Some(targets) = &data.targets {
        for class in classes {
            if let Some(i) = targets.iter().position(|t| matches!(t, Target::Label(l) if l == class)) {
                picked.push(i);
            }
        }
    }
    picked.sort_unstable();
    picked.dedup();
    let mut inputs: Vec<Vec<f32>> = picked.into_iter().map(|i| data.inputs[i].clone()).collect();
    let width = data.features.len();
    let column = |f: usize| data.inputs.iter().map(move |row| row[f]);
    inputs.push(vec![0.0; width]);
    // f32::min and max skip NaN; a feature missing on every row gets 0.
    let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
    inputs.push(
        (0..width)
            .map(|f| finite(column(f).fold(f32::INFINITY, f32::min)))
            .collect(),
    );
    inputs.push(
        (0..width)
            .map(|f| finite(column(f).fold(f32::NEG_INFINITY, f32::max)))
            .collect(),
    );
    inputs
}

fn expected(prediction: Prediction) -> Expected {
    match prediction {
        Prediction::Classification {
            probabilities, label, ..
        } => Expected {
            probabilities: Some(probabilities.into_iter().map(stored_f32).collect()),
            label: Some(label),
            value: None,
        },
        Prediction::Regression { value } => Expected {
            probabilities: None,
            label: None,
            value: Some(stored_f32(value)),
        },
    }
}

/// A model read for bundling: its bytes, its graph, and what the graph says it predicts.
pub struct ModelDraft {
    /// The ONNX bytes.
    pub bytes: Vec<u8>,
    /// The decoded graph.
    pub proto: tract_onnx::pb::ModelProto,
    /// Its input and outputs.
    pub interface: graph::Interface,
    /// Classification or regression.
    pub task: Task,
    /// Which outputs carry the prediction.
    pub outputs: OutputSpec,
}

/// Reads a model file and its interface.
pub fn read_model(path: &Path, task: Option<Task>) -> Result<ModelDraft> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    model_from_bytes(bytes, &path.display().to_string(), task)
}

/// Reads a model's interface from its bytes; `label` names it in errors.
pub fn model_from_bytes(bytes: Vec<u8>, label: &str, task: Option<Task>) -> Result<ModelDraft> {
    let proto = graph::decode(&bytes).with_context(|| label.to_string())?;
    let interface = graph::interface(&proto).with_context(|| label.to_string())?;
    let (task, outputs) = outputs_of(&interface, task)?;
    Ok(ModelDraft {
        bytes,
        proto,
        interface,
        task,
        outputs,
    })
}

/// The features of a model that takes records as a data file names them by default: an input of
/// one column by the input's name, a wider one `name_0`, `name_1`...
fn default_names(layouts: &[InputLayout]) -> Vec<String> {
    layouts
        .iter()
        .flat_map(|layout| {
            (0..layout.width).map(move |j| match layout.width {
                1 => layout.name.clone(),
                _ => format!("{}_{j}", layout.name),
            })
        })
        .collect()
}

/// The manifest's inputs of a model that takes records: the graph's, named by the data's features.
fn record_inputs(layouts: &[InputLayout], features: &[String], missing: Missing) -> Vec<InputSpec> {
    let mut offset = 0;
    layouts
        .iter()
        .map(|layout| {
            let names = features.get(offset..offset + layout.width).unwrap_or_default().to_vec();
            offset += layout.width;
            InputSpec {
                name: layout.name.clone(),
                dtype: layout.dtype,
                shape: vec![Dim::Symbol("N".into()), Dim::Fixed(layout.width as u64)],
                features: names,
                missing: if layout.dtype == Dtype::Float32 {
                    missing
                } else {
                    Missing::Refuse
                },
                categories: (layout.dtype == Dtype::String).then(|| layout.categories.clone()),
            }
        })
        .collect()
}

/// A manifest for `model` with `data` as its holdout; fixtures, requirement and prediction
/// statistics still empty (they need the model to run).
pub fn draft_manifest(model: &ModelDraft, name: &str, version: &str, data: &Dataset) -> Result<Manifest> {
    data.check_width(model.interface.row_shape.iter().product::<u64>() as usize)?;
    let missing = if graph::takes_missing(&model.proto) {
        Missing::Nan
    } else {
        if let Some((row, feature)) = data.first_missing() {
            bail!(
                "{} line {}, column `{feature}`: a missing value, but this model cannot take missing values \
                 (it has no Imputer, and no tree of it routes missing values): fill them in, or export the \
                 pipeline with its imputer",
                data.source,
                row + 2
            );
        }
        Missing::Refuse
    };
    let targets = data.require_targets()?.to_vec();
    let mut outputs = model.outputs.clone();
    if model.task == Task::Classification {
        outputs.classes = Some(classes_of(&model.proto, &targets));
    }
    let inputs = match &model.interface.records {
        Some(layouts) => record_inputs(layouts, &data.features, missing),
        None => vec![InputSpec {
            name: model.interface.input.clone(),
            dtype: Dtype::Float32,
            shape: std::iter::once(Dim::Symbol("N".into()))
                .chain(model.interface.row_shape.iter().map(|&d| Dim::Fixed(d)))
                .collect(),
            features: data.features.clone(),
            missing,
            categories: None,
        }],
    };
    let kinds = kinds_of(&inputs);
    Ok(Manifest {
        schema: Some("../../manifest.schema.json".into()),
        format: MANIFEST_FORMAT,
        name: name.to_string(),
        version: version.to_string(),
        sha256: wasm_predict::hash::sha256_hex(&model.bytes),
        plan: None,
        task: model.task,
        inputs: inputs.clone(),
        outputs,
        decision: None,
        performance: Performance {
            metric: metric_of(model.task),
            minimum: 0.0,
            achieved: None,
            holdout: Holdout {
                inputs: data.inputs.clone(),
                targets,
            },
            ratchet: Vec::new(),
        },
        memory: None,
        fixtures: Fixtures {
            tolerance: 1e-4,
            cases: Vec::new(),
        },
        reference: Reference {
            features: data
                .features
                .iter()
                .enumerate()
                .map(|(f, name)| {
                    let values: Vec<f64> = data.inputs.iter().map(|r| f64::from(r[f])).collect();
                    let (edges, counts) = match kinds.get(f) {
                        Some(FeatureKind::Category(categories)) => category_histogram(&values, categories.len()),
                        _ => quantile_histogram(&values),
                    };
                    FeatureHistogram {
                        name: name.clone(),
                        edges,
                        counts,
                        missing: values.iter().filter(|v| v.is_nan()).count() as u64,
                    }
                })
                .collect(),
            predictions: PredictionReference {
                labels: None,
                confidence: None,
                value: None,
            },
        },
        provenance: Provenance {
            training_data: TrainingData {
                source: "not recorded".into(),
                rows: 0,
                window: None,
            },
            parent_version: None,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            producer: Some(format!("wasm-predict {}", env!("CARGO_PKG_VERSION"))),
        },
        card: None,
    })
}

/// Makes the bundle and loads it back; refuses to overwrite a bundle unless `force`.
pub fn make_bundle(request: &BundleRequest) -> Result<BundleSummary> {
    let model = read_model(&request.model, request.task)?;
    let (task, bytes) = (model.task, &model.bytes);
    let table = super::dataset::read_table(&request.data)?;
    let data = match &model.interface.records {
        Some(layouts) => {
            let inputs = record_inputs(layouts, &default_names(layouts), Missing::Nan);
            table.dataset_with(&request.columns, task, Some(&RowSchema::of(&inputs)))?
        }
        None => table.dataset(&request.columns, task)?,
    };
    let mut manifest = draft_manifest(&model, &request.name, &request.version, &data)?;
    manifest.fixtures.tolerance = request.tolerance;
    manifest.provenance = Provenance {
        training_data: request.training.clone(),
        parent_version: request.parent.clone(),
        created: request
            .created
            .clone()
            .unwrap_or_else(|| manifest.provenance.created.clone()),
        producer: Some(format!("wasm-predict bundle {}", env!("CARGO_PKG_VERSION"))),
    };
    let classes = manifest.classes().to_vec();
    let targets = manifest.performance.holdout.targets.clone();
    let load = |manifest: &Manifest| {
        Predictor::from_model(manifest.clone(), bytes).map_err(|e| anyhow!("{}: {e}", request.model.display()))
    };
    let mut predictor = load(&manifest)?;
    let mut holdout = evaluate::run(&mut predictor, &data.inputs)?;
    if let Some((goal, positive)) = &request.threshold {
        let scored = Scored::of(&manifest, &holdout, &targets, positive.as_deref())?;
        manifest.decision = Some(goal.decide(&scored)?);
        predictor = load(&manifest)?;
        holdout = evaluate::run(&mut predictor, &data.inputs)?;
    }
    let achieved = evaluate::score(manifest.performance.metric, &holdout, &targets).unwrap_or(0.0);
    manifest.performance.achieved = Some(round6(achieved));
    manifest.performance.minimum = round6(request.minimum.unwrap_or(achieved - request.margin));
    manifest.reference.predictions = match task {
        Task::Classification => {
            let mut counts: BTreeMap<String, u64> = classes.iter().map(|c| (c.clone(), 0)).collect();
            for label in &holdout.labels {
                *counts.entry(label.clone()).or_default() += 1;
            }
            let confidences: Vec<f64> = holdout.confidences.iter().map(|&c| f64::from(c)).collect();
            PredictionReference {
                labels: Some(counts),
                confidence: Some(histogram(&confidences)),
                value: None,
            }
        }
        Task::Regression => PredictionReference {
            labels: None,
            confidence: None,
            value: Some(histogram(
                &holdout.values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            )),
        },
    };
    manifest.fixtures.cases = fixture_inputs(&data, request.sample, &classes)
        .into_iter()
        .map(|input| {
            Ok(Fixture {
                expected: expected(predictor.predict(&input).map_err(|e| anyhow!("{e}"))?),
                input,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The compiled plan, unless the runtime cannot run the model (then the browser needs the
    // full build, which loads model.onnx).
    let (plan, no_plan) = match crate::plan::compiled(&manifest, bytes) {
        Ok((plan, stated, _)) => {
            manifest = stated;
            (Some(plan), None)
        }
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let dir = request.out.join(&request.name).join(&request.version);
    write_bundle(
        &dir,
        bytes,
        &serde_json::to_vec_pretty(&manifest)?,
        plan.as_deref(),
        request.force,
    )?;
    // Measured from the files written, as the browser loads them; the field adds a few bytes.
    let measured = crate::memory::measure(&dir).context("measuring the bundle's memory")?;
    manifest.memory = Some(crate::memory::requirement_for(measured));
    let json = serde_json::to_vec_pretty(&manifest)?;
    write_manifest(&dir, &json)?;
    let mut loaded = Predictor::load(&json, bytes).map_err(|e| anyhow!("the new bundle does not load back: {e}"))?;
    let report = wasm_predict::verify(&mut loaded).map_err(|e| anyhow!("{e}"))?;
    if !report.passed {
        bail!(
            "the new bundle does not pass verify: {}",
            serde_json::to_string(&report)?
        );
    }
    let card = match &request.card {
        Some(slices) => {
            let card = crate::card::make_card(&CardRequest {
                bundle: dir.clone(),
                data: Some(request.data.clone()),
                columns: request.columns.clone(),
                slices: slices.clone(),
                examples: 10,
            })
            .context("writing the model card")?;
            Some(crate::card::headline(&card))
        }
        None => None,
    };
    Ok(BundleSummary {
        decision: manifest.decision.clone(),
        card,
        path: dir,
        model: manifest.id(),
        sha256: manifest.sha256.clone(),
        task,
        classes,
        features: data.features.len(),
        holdout_rows: data.inputs.len(),
        fixtures: manifest.fixtures.cases.len(),
        achieved,
        minimum: manifest.performance.minimum,
        memory: manifest.memory.clone(),
        plan_bytes: plan.map(|p| p.len()),
        no_plan,
    })
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn write_bundle(dir: &Path, model: &[u8], manifest: &[u8], plan: Option<&[u8]>, force: bool) -> Result<()> {
    if dir.join("manifest.json").exists() && !force {
        bail!(
            "{} already holds a bundle: versions are immutable, bump the version (or --force)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("model.onnx"), model)?;
    match plan {
        Some(plan) => std::fs::write(dir.join(PLAN_FILE), plan)?,
        None if dir.join(PLAN_FILE).exists() => std::fs::remove_file(dir.join(PLAN_FILE))?,
        None => {}
    }
    write_manifest(dir, manifest)
}

fn write_manifest(dir: &Path, manifest: &[u8]) -> Result<()> {
    let mut text = manifest.to_vec();
    text.push(b'\n');
    std::fs::write(dir.join("manifest.json"), text)
        .with_context(|| format!("writing {}", dir.join("manifest.json").display()))
}

/// The summary as text.
pub fn render(s: &BundleSummary) -> String {
    let mut text = format!(
        "wrote {} ({})\n  {:?}, {} features{}\n  holdout: {} rows, {:.4} achieved, minimum {}\n  fixtures: {}; loads back and passes verify\n  sha256 {}\n  {}\n",
        s.path.display(),
        s.model,
        s.task,
        s.features,
        if s.classes.is_empty() { String::new() } else { format!(", classes {}", s.classes.join(", ")) },
        s.holdout_rows,
        s.achieved,
        s.minimum,
        s.fixtures,
        s.sha256,
        match (&s.plan_bytes, &s.no_plan) {
            (Some(bytes), _) => format!("{PLAN_FILE}: {bytes} bytes, passes the fixtures"),
            (None, why) => format!(
                "no {PLAN_FILE} (browsers need the full build for this model): {}",
                why.as_deref().unwrap_or("")
            ),
        }
    );
    if let Some(m) = &s.memory {
        text.push_str(&format!(
            "  memory: {} bytes at the peak of load, verify and a {MEMORY_BATCH_ROWS}-row batch; maximum {} bytes\n",
            m.measured_bytes.unwrap_or_default(),
            m.maximum_bytes
        ));
    }
    if let Some(d) = &s.decision {
        text.push_str(&format!(
            "  decision: {} when its probability is at least {}{}\n",
            d.positive_class,
            d.threshold,
            d.chosen_for.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
        ));
    }
    if let Some(headline) = &s.card {
        text.push_str(&format!("  card.md, card.html: {headline}\n"));
    }
    text
}

//! `card`: the model card beside a bundle's manifest, `card.md` and a self-contained
//! `card.html`: what the model gets wrong (its error rate with an interval, per class, the
//! confusion matrix, or its error quantiles and residuals), its calibration, the threshold
//! trade-off of a binary classifier, the labelled rows it gets most wrong, its errors by slice,
//! where its training data came from, its size and its latency. The manifest links both files
//! with their hashes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use wasm_predict::Predictor;
use wasm_predict_manifest::{BundleFile, CardFiles, Decision, Manifest, Target, Task, TrainingData, PLAN_FILE};

use crate::dataset::{read_table, Columns};
use crate::evaluate::{self, Outputs};
use crate::threshold::{Operating, Scored};

/// The card's file names, beside the manifest.
pub const MARKDOWN_FILE: &str = "card.md";
/// The self-contained HTML card.
pub const HTML_FILE: &str = "card.html";

/// What to make a card of.
#[derive(Debug, Clone)]
pub struct CardRequest {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// Labelled rows, CSV or Parquet (default: the bundle's holdout sample).
    pub data: Option<PathBuf>,
    /// Their columns.
    pub columns: Columns,
    /// Columns of the data to break errors down by.
    pub slices: Vec<String>,
    /// How many of the worst rows to show.
    pub examples: usize,
}

/// A share with its 95% Wilson interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Share {
    /// How many of `of`.
    pub count: u64,
    /// Out of this many.
    pub of: u64,
    /// `count / of`.
    pub rate: f64,
    /// The interval's low end.
    pub low: f64,
    /// Its high end.
    pub high: f64,
}

impl Share {
    fn of(count: u64, of: u64) -> Share {
        let n = of.max(1) as f64;
        let p = count as f64 / n;
        let z2 = 1.96f64 * 1.96;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = 1.96 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
        Share {
            count,
            of,
            rate: p,
            low: (centre - half).max(0.0),
            high: (centre + half).min(1.0),
        }
    }
}

/// One class's errors.
#[derive(Debug, Clone, Serialize)]
pub struct ClassErrors {
    /// The true class.
    pub class: String,
    /// Its rows labelled something else.
    pub wrong: Share,
    /// What they were labelled instead, most frequent first.
    pub read_as: Vec<(String, u64)>,
}

/// A regressor's errors.
#[derive(Debug, Clone, Serialize)]
pub struct Residuals {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Quantiles of the absolute error: (quantile, error).
    pub quantiles: Vec<(f64, f64)>,
    /// (predicted, actual − predicted) per row, at most 2,000 rows, for the plot.
    pub points: Vec<(f64, f64)>,
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationBin {
    /// The bin's probability range.
    pub low: f64,
    /// Its high end.
    pub high: f64,
    /// Rows whose probability falls in it.
    pub rows: u64,
    /// Their mean probability.
    pub predicted: f64,
    /// How often the event happened among them.
    pub observed: f64,
}

/// How far the probabilities can be taken at their word.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// Mean over rows of the squared distance between the probabilities and the truth (one-hot),
    /// summed over classes: 0 is perfect.
    pub brier: f64,
    /// What the diagram plots: the positive class's probability, or the predicted label's.
    pub of: String,
    /// Ten bins of equal width.
    pub bins: Vec<CalibrationBin>,
}

/// A binary classifier's threshold trade-off.
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// The class the thresholds are about.
    pub positive_class: String,
    /// The threshold the manifest records, if any.
    pub chosen: Option<Decision>,
    /// Precision, recall and false-positive rate at 0.1, 0.2, … 0.9 and at the chosen threshold.
    pub table: Vec<Operating>,
    /// Area under the ROC curve.
    pub roc_auc: Option<f64>,
    /// The ROC curve: (false-positive rate, recall).
    pub roc: Vec<(f64, f64)>,
    /// The precision-recall curve: (recall, precision).
    pub pr: Vec<(f64, f64)>,
}

/// A labelled row the model gets badly wrong.
#[derive(Debug, Clone, Serialize)]
pub struct WrongRow {
    /// Its row in the data (1 is the first row after the header).
    pub row: usize,
    /// The truth.
    pub truth: String,
    /// The prediction.
    pub predicted: String,
    /// The probability given to the wrong label, or the absolute error.
    pub how_wrong: f64,
    /// Its inputs, by feature.
    pub inputs: Vec<(String, f32)>,
}

/// One group of a slice.
#[derive(Debug, Clone, Serialize)]
pub struct SliceGroup {
    /// The column's value, or range.
    pub value: String,
    /// Classification: its rows labelled wrong.
    pub wrong: Option<Share>,
    /// Regression: its rows and their mean absolute error.
    pub mae: Option<(u64, f64)>,
}

/// Errors broken down by one column.
#[derive(Debug, Clone, Serialize)]
pub struct Slice {
    /// The column.
    pub column: String,
    /// Its groups.
    pub groups: Vec<SliceGroup>,
}

/// The bundle's size.
#[derive(Debug, Clone, Serialize)]
pub struct Size {
    /// `model.onnx`, bytes and gzipped.
    pub model: (u64, u64),
    /// `model.plan`, when there is one.
    pub plan: Option<(u64, u64)>,
}

/// Time per prediction, measured when the card was made.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// One row, median (µs).
    pub row_us: f64,
    /// A batch of 256 rows, median (µs).
    pub batch_us: f64,
    /// Where it was measured.
    pub machine: String,
}

/// Everything the card says.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// `name@version`.
    pub model: String,
    /// Classification or regression.
    pub task: Task,
    /// When the bundle was made.
    pub created: String,
    /// Where the training data came from.
    pub training: TrainingData,
    /// The model it replaces.
    pub parent: Option<String>,
    /// The labelled rows the card is computed on.
    pub data: String,
    /// The requirement's metric, what these rows give, and the minimum.
    pub metric: (String, f64, f64),
    /// Classification: the rows labelled wrong.
    pub errors: Option<Share>,
    /// Classification: per true class.
    pub classes: Vec<ClassErrors>,
    /// Classification: counts[truth][predicted], in the manifest's class order.
    pub confusion: Vec<Vec<u64>>,
    /// Regression: the residuals.
    pub residuals: Option<Residuals>,
    /// Classification: calibration.
    pub calibration: Option<Calibration>,
    /// Binary classification: thresholds.
    pub thresholds: Option<Thresholds>,
    /// The rows it gets most wrong.
    pub worst: Vec<WrongRow>,
    /// Errors by slice.
    pub slices: Vec<Slice>,
    /// Its size.
    pub size: Size,
    /// Its latency.
    pub latency: Latency,
}

/// The labelled rows a card is computed on, and their slice columns' values.
struct Labelled {
    source: String,
    features: Vec<String>,
    inputs: Vec<Vec<f32>>,
    targets: Vec<Target>,
    slices: Vec<(String, Vec<String>)>,
}

impl Labelled {
    /// Row `r` as the card shows a wrong one.
    fn wrong_row(&self, r: usize, predicted: String, how_wrong: f64) -> WrongRow {
        WrongRow {
            row: r + 1,
            truth: truth_label(&self.targets[r]),
            predicted,
            how_wrong,
            inputs: self
                .features
                .iter()
                .cloned()
                .zip(self.inputs[r].iter().copied())
                .collect(),
        }
    }

    /// Each slice column's groups, each summed up by `group` from its rows.
    fn slices(&self, group: impl Fn(String, &[usize]) -> SliceGroup) -> Vec<Slice> {
        self.slices
            .iter()
            .map(|(column, values)| Slice {
                column: column.clone(),
                groups: groups(values)
                    .into_iter()
                    .map(|(value, members)| group(value, &members))
                    .collect(),
            })
            .collect()
    }
}

fn labelled(request: &CardRequest, manifest: &Manifest) -> Result<Labelled> {
    let Some(path) = &request.data else {
        let holdout = &manifest.performance.holdout;
        let features: Vec<String> = manifest.feature_names().into_iter().map(String::from).collect();
        let slices = request
            .slices
            .iter()
            .map(|column| {
                let f = features.iter().position(|n| n == column).with_context(|| {
                    format!(
                        "--slice {column}: not a feature of {} (without --data, slices are features of the holdout sample)",
                        manifest.id()
                    )
                })?;
                Ok((column.clone(), holdout.inputs.iter().map(|r| r[f].to_string()).collect()))
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok(Labelled {
            source: format!("the bundle's holdout sample ({} rows)", holdout.inputs.len()),
            features,
            inputs: holdout.inputs.clone(),
            targets: holdout.targets.clone(),
            slices,
        });
    };
    let table = read_table(path)?;
    let data = table.dataset_for(&request.columns, manifest)?;
    let targets = data.require_targets()?.to_vec();
    if data.inputs.len() != table.rows.len() {
        bail!(
            "{}: {} rows read as {} inputs",
            table.source,
            table.rows.len(),
            data.inputs.len()
        );
    }
    let slices = request
        .slices
        .iter()
        .map(|column| {
            let c = table.columns.iter().position(|n| n == column).with_context(|| {
                format!(
                    "--slice {column}: {} has no such column (it has {})",
                    table.source,
                    table.columns.join(", ")
                )
            })?;
            Ok((
                column.clone(),
                table
                    .rows
                    .iter()
                    .map(|r| r.get(c).cloned().unwrap_or_default())
                    .collect(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Labelled {
        source: format!("{} ({} rows)", table.source, data.inputs.len()),
        features: data.features,
        inputs: data.inputs,
        targets,
        slices,
    })
}

/// Makes the card of a bundle, writes `card.md` and `card.html` beside its manifest, and links
/// them from the manifest.
pub fn make_card(request: &CardRequest) -> Result<Card> {
    let dir = &request.bundle;
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let mut manifest = Manifest::from_json(&text).map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    let model_path = dir.join("model.onnx");
    let model = std::fs::read(&model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let plan = std::fs::read(dir.join(PLAN_FILE)).ok();
    let card = compute(request, &manifest, &model, plan.as_deref())?;
    let markdown = markdown(&card);
    let html = html(&card);
    std::fs::write(dir.join(MARKDOWN_FILE), &markdown)?;
    std::fs::write(dir.join(HTML_FILE), &html)?;
    manifest.card = Some(CardFiles {
        markdown: BundleFile {
            path: MARKDOWN_FILE.into(),
            sha256: wasm_predict::hash::sha256_hex(markdown.as_bytes()),
        },
        html: BundleFile {
            path: HTML_FILE.into(),
            sha256: wasm_predict::hash::sha256_hex(html.as_bytes()),
        },
    });
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    std::fs::write(&manifest_path, json)?;
    Ok(card)
}

/// The card of `manifest`'s model (`model` its ONNX bytes) on the request's rows.
pub fn compute(request: &CardRequest, manifest: &Manifest, model: &[u8], plan: Option<&[u8]>) -> Result<Card> {
    let rows = labelled(request, manifest)?;
    if rows.inputs.is_empty() {
        bail!("{}: no labelled rows to make a card from", rows.source);
    }
    let json = serde_json::to_vec(manifest)?;
    // The plan when there is one: what the browser's default entry runs.
    let mut predictor = match plan {
        Some(plan) => Predictor::load_compiled(&json, plan),
        None => Predictor::load_model_file(&json, model),
    }
    .map_err(|e| anyhow!("{}: {e}", manifest.id()))?;
    let outputs = evaluate::run(&mut predictor, &rows.inputs)?;
    let achieved = evaluate::score(manifest.performance.metric, &outputs, &rows.targets).unwrap_or(f64::NAN);
    let mut card = Card {
        model: manifest.id(),
        task: manifest.task,
        created: manifest.provenance.created.clone(),
        training: manifest.provenance.training_data.clone(),
        parent: manifest.provenance.parent_version.clone(),
        data: rows.source.clone(),
        metric: (
            format!("{:?}", manifest.performance.metric).to_lowercase(),
            achieved,
            manifest.performance.minimum,
        ),
        errors: None,
        classes: Vec::new(),
        confusion: Vec::new(),
        residuals: None,
        calibration: None,
        thresholds: None,
        worst: Vec::new(),
        slices: Vec::new(),
        size: Size {
            model: (model.len() as u64, gzipped(model)?),
            plan: plan
                .map(|p| Ok::<_, anyhow::Error>((p.len() as u64, gzipped(p)?)))
                .transpose()?,
        },
        latency: latency(&mut predictor, &rows.inputs)?,
    };
    match manifest.task {
        Task::Classification => classification(&mut card, manifest, &outputs, &rows, request.examples)?,
        Task::Regression => regression(&mut card, &outputs, &rows, request.examples),
    }
    Ok(card)
}

fn truth_label(target: &Target) -> String {
    match target {
        Target::Label(l) => l.clone(),
        Target::Value(v) => v.to_string(),
    }
}

fn truth_value(target: &Target) -> f64 {
    match target {
        Target::Value(v) => *v,
        Target::Label(l) => l.parse().unwrap_or(f64::NAN),
    }
}

fn classification(
    card: &mut Card,
    manifest: &Manifest,
    outputs: &Outputs,
    rows: &Labelled,
    examples: usize,
) -> Result<()> {
    let classes = manifest.classes();
    let index = |label: &str| classes.iter().position(|c| c == label);
    let mut confusion = vec![vec![0u64; classes.len()]; classes.len()];
    let mut wrong_rows = Vec::new();
    let (mut brier, mut counted) = (0.0, 0u64);
    for (r, target) in rows.targets.iter().enumerate() {
        let truth = truth_label(target);
        let (Some(t), Some(p)) = (index(&truth), index(&outputs.labels[r])) else {
            continue;
        };
        confusion[t][p] += 1;
        counted += 1;
        let probabilities = outputs.row(r);
        brier += probabilities
            .iter()
            .enumerate()
            .map(|(k, &q)| (f64::from(q) - if k == t { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>();
        if t != p {
            wrong_rows.push((r, f64::from(probabilities[p])));
        }
    }
    let wrong_total: u64 = wrong_rows.len() as u64;
    card.errors = Some(Share::of(wrong_total, counted));
    card.classes = classes
        .iter()
        .enumerate()
        .map(|(t, class)| {
            let total: u64 = confusion[t].iter().sum();
            let mut read_as: Vec<(String, u64)> = confusion[t]
                .iter()
                .enumerate()
                .filter(|&(p, &n)| p != t && n > 0)
                .map(|(p, &n)| (classes[p].clone(), n))
                .collect();
            read_as.sort_by_key(|r| std::cmp::Reverse(r.1));
            ClassErrors {
                class: class.clone(),
                wrong: Share::of(total - confusion[t][t], total),
                read_as,
            }
        })
        .collect();
    card.confusion = confusion;

    let binary = classes.len() == 2;
    let positive = manifest
        .decision
        .as_ref()
        .and_then(|d| index(&d.positive_class))
        .unwrap_or(1);
    let mut bins: Vec<(u64, f64, f64)> = vec![(0, 0.0, 0.0); 10];
    for (r, target) in rows.targets.iter().enumerate() {
        let truth = truth_label(target);
        let (probability, happened) = if binary {
            (f64::from(outputs.row(r)[positive]), index(&truth) == Some(positive))
        } else {
            (f64::from(outputs.confidences[r]), truth == outputs.labels[r])
        };
        let bin = ((probability * 10.0).floor() as usize).min(9);
        bins[bin].0 += 1;
        bins[bin].1 += probability;
        bins[bin].2 += if happened { 1.0 } else { 0.0 };
    }
    card.calibration = Some(Calibration {
        brier: brier / counted.max(1) as f64,
        of: if binary {
            format!("the probability of {:?}", classes[positive])
        } else {
            "the predicted label's probability (observed: how often that label is right)".into()
        },
        bins: bins
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0 > 0)
            .map(|(i, &(n, sum, hits))| CalibrationBin {
                low: i as f64 / 10.0,
                high: (i + 1) as f64 / 10.0,
                rows: n,
                predicted: sum / n as f64,
                observed: hits / n as f64,
            })
            .collect(),
    });

    if binary {
        let scored = Scored::of(manifest, outputs, &rows.targets, None)?;
        let mut table: Vec<Operating> = (1..10).map(|i| scored.at(f64::from(i) / 10.0)).collect();
        if let Some(d) = &manifest.decision {
            table.push(scored.at(d.threshold));
            table.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
            table.dedup_by(|a, b| a.threshold == b.threshold);
        }
        let curve = scored.curve();
        card.thresholds = Some(Thresholds {
            positive_class: scored.positive_class.clone(),
            chosen: manifest.decision.clone(),
            table,
            roc_auc: scored.roc_auc(),
            roc: std::iter::once((0.0, 0.0))
                .chain(curve.iter().map(|o| (o.false_positive_rate(), o.recall())))
                .collect(),
            pr: curve.iter().map(|o| (o.recall(), o.precision())).collect(),
        });
    }

    wrong_rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    card.worst = wrong_rows
        .iter()
        .take(examples)
        .map(|&(r, how_wrong)| rows.wrong_row(r, outputs.labels[r].clone(), how_wrong))
        .collect();
    card.slices = rows.slices(|value, members| {
        let wrong = members
            .iter()
            .filter(|&&r| truth_label(&rows.targets[r]) != outputs.labels[r])
            .count();
        SliceGroup {
            value,
            wrong: Some(Share::of(wrong as u64, members.len() as u64)),
            mae: None,
        }
    });
    Ok(())
}

fn regression(card: &mut Card, outputs: &Outputs, rows: &Labelled, examples: usize) {
    let residual = |r: usize| truth_value(&rows.targets[r]) - f64::from(outputs.values[r]);
    let usable: Vec<usize> = (0..rows.targets.len().min(outputs.rows()))
        .filter(|&r| residual(r).is_finite())
        .collect();
    let mut absolute: Vec<f64> = usable.iter().map(|&r| residual(r).abs()).collect();
    absolute.sort_by(f64::total_cmp);
    let n = absolute.len().max(1) as f64;
    let quantile = |q: f64| {
        absolute
            .get(((q * (absolute.len() as f64 - 1.0)).round().max(0.0)) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let step = usable.len().div_ceil(2000).max(1);
    card.residuals = Some(Residuals {
        mae: absolute.iter().sum::<f64>() / n,
        rmse: (absolute.iter().map(|e| e * e).sum::<f64>() / n).sqrt(),
        quantiles: [0.5, 0.75, 0.9, 0.95, 0.99, 1.0]
            .iter()
            .map(|&q| (q, quantile(q)))
            .collect(),
        points: usable
            .iter()
            .step_by(step)
            .map(|&r| (f64::from(outputs.values[r]), residual(r)))
            .collect(),
    });
    let mut worst = usable.clone();
    worst.sort_by(|&a, &b| residual(b).abs().total_cmp(&residual(a).abs()));
    card.worst = worst
        .iter()
        .take(examples)
        .map(|&r| rows.wrong_row(r, format!("{}", outputs.values[r]), residual(r).abs()))
        .collect();
    card.slices = rows.slices(|value, members| {
        let errors: Vec<f64> = members
            .iter()
            .map(|&r| residual(r).abs())
            .filter(|e| e.is_finite())
            .collect();
        SliceGroup {
            value,
            wrong: None,
            mae: Some((
                errors.len() as u64,
                errors.iter().sum::<f64>() / errors.len().max(1) as f64,
            )),
        }
    });
}

/// A column's rows in groups: one per value when there are at most 12, else four ranges of
/// equal counts (quartiles) when the values are numbers; missing values in a group of their own.
fn groups(values: &[String]) -> Vec<(String, Vec<usize>)> {
    let mut distinct: Vec<&str> = values.iter().map(|v| v.trim()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let numbers: Vec<Option<f64>> = values
        .iter()
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect();
    let numeric = values
        .iter()
        .zip(&numbers)
        .all(|(v, n)| n.is_some() || crate::dataset::is_missing(v));
    if distinct.len() <= 12 || !numeric {
        let mut out: Vec<(String, Vec<usize>)> = Vec::new();
        for (r, v) in values.iter().enumerate() {
            let key = if crate::dataset::is_missing(v) {
                "(missing)".to_string()
            } else {
                v.trim().to_string()
            };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, rows)) => rows.push(r),
                None => out.push((key, vec![r])),
            }
        }
        out.sort_by(|a, b| match (a.0.parse::<f64>(), b.0.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.0.cmp(&b.0),
        });
        return out;
    }
    let mut sorted: Vec<f64> = numbers.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let edge = |q: f64| sorted[((q * (sorted.len() - 1) as f64).round()) as usize];
    let edges = [edge(0.0), edge(0.25), edge(0.5), edge(0.75), edge(1.0)];
    let mut out: Vec<(String, Vec<usize>)> = (0..4)
        .map(|i| {
            let close = if i == 3 { "]" } else { ")" };
            (
                format!("[{}, {}{close}", short(edges[i]), short(edges[i + 1])),
                Vec::new(),
            )
        })
        .collect();
    let mut missing = Vec::new();
    for (r, n) in numbers.iter().enumerate() {
        match n {
            Some(x) => {
                let bin = (1..4).filter(|&i| *x >= edges[i]).count().min(3);
                out[bin].1.push(r);
            }
            None => missing.push(r),
        }
    }
    out.retain(|(_, rows)| !rows.is_empty());
    if !missing.is_empty() {
        out.push(("(missing)".into(), missing));
    }
    out
}

fn short(x: f64) -> String {
    format!("{}", (x * 1e4).round() / 1e4)
}

fn gzipped(bytes: &[u8]) -> Result<u64> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len() as u64)
}

/// Median time of one row and of a batch of 256, natively, bounded to about a second.
fn latency(predictor: &mut Predictor, inputs: &[Vec<f32>]) -> Result<Latency> {
    let mut rows = Vec::new();
    let started = Instant::now();
    for i in 0..1000 {
        let t = Instant::now();
        predictor
            .predict(&inputs[i % inputs.len()])
            .map_err(|e| anyhow!("{e}"))?;
        rows.push(t.elapsed().as_secs_f64() * 1e6);
        if started.elapsed().as_secs_f64() > 0.5 {
            break;
        }
    }
    let flat: Vec<f32> = (0..256)
        .flat_map(|i| inputs[i % inputs.len()].iter().copied())
        .collect();
    let mut batches = Vec::new();
    let started = Instant::now();
    for _ in 0..20 {
        let t = Instant::now();
        predictor.predict_batch(&flat, 256).map_err(|e| anyhow!("{e}"))?;
        batches.push(t.elapsed().as_secs_f64() * 1e6);
        if started.elapsed().as_secs_f64() > 0.5 {
            break;
        }
    }
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    Ok(Latency {
        row_us: crate::median(rows),
        batch_us: crate::median(batches),
        machine: format!(
            "natively, one thread, on {machine} ({} cores); in a browser expect 1-3x this (wasm-predict bench --browser)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
    })
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The headline: how often the model is wrong and how, in words.
pub fn headline(card: &Card) -> String {
    match (&card.errors, &card.residuals) {
        (Some(e), _) => {
            let mut pairs: Vec<(&str, &str, u64)> = card
                .classes
                .iter()
                .flat_map(|c| c.read_as.iter().map(move |(p, n)| (c.class.as_str(), p.as_str(), *n)))
                .collect();
            pairs.sort_by_key(|p| std::cmp::Reverse(p.2));
            let per100 = e.rate * 100.0;
            let mut text = format!(
                "It gets {:.1} in 100 wrong ({} of {} labelled rows; 95% interval {:.1} to {:.1} in 100)",
                per100,
                e.count,
                e.of,
                e.low * 100.0,
                e.high * 100.0
            );
            if let Some((truth, read, n)) = pairs.first() {
                text.push_str(&format!(", most often {truth} read as {read} ({n} rows)"));
                if let Some((t2, r2, n2)) = pairs.get(1) {
                    text.push_str(&format!(", then {t2} read as {r2} ({n2})"));
                }
            }
            text.push('.');
            text
        }
        (None, Some(r)) => format!(
            "Its predictions are off by {} or less for half the rows, {} or less for 9 in 10, and by {} at worst (mean absolute error {}).",
            short(r.quantiles[0].1),
            short(r.quantiles[2].1),
            short(r.quantiles.last().map_or(f64::NAN, |q| q.1)),
            short(r.mae)
        ),
        _ => String::new(),
    }
}

const PUBLIC: &str = "A model shipped to browsers is public: anyone can download its files and inspect, copy or probe it. Do not put in it what must stay secret.";

fn inputs_text(inputs: &[(String, f32)]) -> String {
    let shown: Vec<String> = inputs.iter().take(12).map(|(n, v)| format!("{n}={v}")).collect();
    let more = inputs.len().saturating_sub(12);
    if more > 0 {
        format!("{} … and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The card as Markdown.
pub fn markdown(card: &Card) -> String {
    let mut m = String::new();
    let mut line = |s: String| {
        m.push_str(&s);
        m.push('\n');
    };
    line(format!("# Model card: {}\n", card.model));
    line(format!("**{}**\n", headline(card)));
    line(format!("> {PUBLIC}\n"));
    line(format!(
        "Computed on {}. The requirement: {} at least {} ({} here).\n",
        card.data,
        card.metric.0,
        card.metric.2,
        short(card.metric.1)
    ));
    if !card.classes.is_empty() {
        line("## Errors by class\n".into());
        line("| true class | rows | wrong | error rate (95% interval) | most often read as |".into());
        line("|---|---|---|---|---|".into());
        for c in &card.classes {
            let read: Vec<String> = c.read_as.iter().take(3).map(|(l, n)| format!("{l} ({n})")).collect();
            line(format!(
                "| {} | {} | {} | {} ({}–{}) | {} |",
                c.class,
                c.wrong.of,
                c.wrong.count,
                pct(c.wrong.rate),
                pct(c.wrong.low),
                pct(c.wrong.high),
                read.join(", ")
            ));
        }
        line("\n## Confusion matrix (rows: truth, columns: predicted)\n".into());
        let names: Vec<&str> = card.classes.iter().map(|c| c.class.as_str()).collect();
        line(format!("| | {} |", names.join(" | ")));
        line(format!("|---|{}", "---|".repeat(names.len())));
        for (t, row) in card.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(u64::to_string).collect();
            line(format!("| **{}** | {} |", names[t], cells.join(" | ")));
        }
        line(String::new());
    }
    if let Some(r) = &card.residuals {
        line("## Errors\n".into());
        line(format!(
            "Mean absolute error {}, root mean squared error {}.\n",
            short(r.mae),
            short(r.rmse)
        ));
        line("| share of rows | absolute error at most |".into());
        line("|---|---|".into());
        for (q, e) in &r.quantiles {
            line(format!("| {} | {} |", pct(*q), short(*e)));
        }
        line(String::new());
    }
    if let Some(c) = &card.calibration {
        line("## Calibration\n".into());
        line(format!(
            "Brier score {:.4} (0 is perfect). Reliability of {}: when it says p, the event happens this often:\n",
            c.brier, c.of
        ));
        line("| probability | rows | mean predicted | observed |".into());
        line("|---|---|---|---|".into());
        for b in &c.bins {
            line(format!(
                "| {:.1}–{:.1} | {} | {:.3} | {:.3} |",
                b.low, b.high, b.rows, b.predicted, b.observed
            ));
        }
        line(String::new());
    }
    if let Some(t) = &card.thresholds {
        line("## Decision threshold\n".into());
        match &t.chosen {
            Some(d) => line(format!(
                "The label is {:?} when its probability is at least **{}**{}; probabilities are unchanged.\n",
                d.positive_class,
                d.threshold,
                d.chosen_for.as_ref().map(|c| format!(" (chosen for {c})")).unwrap_or_default()
            )),
            None => line(format!(
                "No threshold was chosen: the label is the most probable class (0.5 for {:?}). Choose one with `wasm-predict bundle --threshold` or `--threshold-for recall=0.9`.\n",
                t.positive_class
            )),
        }
        if let Some(auc) = t.roc_auc {
            line(format!("Area under the ROC curve: {auc:.4}.\n"));
        }
        line("| threshold | precision | recall | false-positive rate | accuracy |".into());
        line("|---|---|---|---|---|".into());
        for o in &t.table {
            line(format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                short(o.threshold),
                o.precision(),
                o.recall(),
                o.false_positive_rate(),
                o.accuracy()
            ));
        }
        line(String::new());
    }
    if !card.worst.is_empty() {
        line("## The rows it gets most wrong\n".into());
        line("| row | truth | predicted | how wrong | inputs |".into());
        line("|---|---|---|---|---|".into());
        for w in &card.worst {
            line(format!(
                "| {} | {} | {} | {:.3} | {} |",
                w.row,
                w.truth,
                w.predicted,
                w.how_wrong,
                inputs_text(&w.inputs)
            ));
        }
        line(String::new());
    }
    for s in &card.slices {
        line(format!("## By {}\n", s.column));
        line("| value | rows | error |".into());
        line("|---|---|---|".into());
        for g in &s.groups {
            match (&g.wrong, &g.mae) {
                (Some(w), _) => line(format!(
                    "| {} | {} | {} ({}–{}) |",
                    g.value,
                    w.of,
                    pct(w.rate),
                    pct(w.low),
                    pct(w.high)
                )),
                (None, Some((n, mae))) => line(format!("| {} | {} | MAE {} |", g.value, n, short(*mae))),
                _ => {}
            }
        }
        line(String::new());
    }
    line("## Provenance, size and speed\n".into());
    line(format!(
        "- Training data: {} ({} rows{}).",
        card.training.source,
        card.training.rows,
        card.training
            .window
            .as_ref()
            .map(|w| format!(", {} to {}", w.start, w.end))
            .unwrap_or_default()
    ));
    line(format!(
        "- Bundled {}{}.",
        card.created,
        card.parent
            .as_ref()
            .map(|p| format!(", replacing {p}"))
            .unwrap_or_default()
    ));
    line(format!(
        "- Size: model.onnx {} bytes ({} gzipped){}.",
        card.size.model.0,
        card.size.model.1,
        card.size
            .plan
            .map(|(b, g)| format!(", model.plan {b} bytes ({g} gzipped)"))
            .unwrap_or_default()
    ));
    line(format!(
        "- Latency: {:.1} µs per row, {:.0} µs per batch of 256 ({}).",
        card.latency.row_us, card.latency.batch_us, card.latency.machine
    ));
    m
}

/// A line or scatter chart as inline SVG, both axes from 0 to 1 unless `range` says otherwise.
struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    range: ((f64, f64), (f64, f64)),
    lines: Vec<(&'a [(f64, f64)], &'a str)>,
    dots: Option<&'a [(f64, f64)]>,
    diagonal: bool,
}

impl Chart<'_> {
    fn svg(&self) -> String {
        let (w, h, pad) = (360.0, 280.0, 44.0);
        let ((x0, x1), (y0, y1)) = self.range;
        let sx = |x: f64| pad + (x - x0) / (x1 - x0).max(1e-12) * (w - pad - 10.0);
        let sy = |y: f64| h - pad - (y - y0) / (y1 - y0).max(1e-12) * (h - pad - 24.0);
        let mut s = format!(
            r#"<figure><svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}"><text x="{cx}" y="16" class="t">{t}</text><rect x="{pad}" y="24" width="{pw}" height="{ph}" class="frame"/>"#,
            t = escape(self.title),
            cx = w / 2.0,
            pw = w - pad - 10.0,
            ph = h - pad - 24.0
        );
        for (value, at) in [(x0, "start"), (x1, "end")] {
            s.push_str(&format!(
                r#"<text x="{}" y="{}" class="a" text-anchor="{at}">{}</text>"#,
                sx(value),
                h - pad + 14.0,
                short(value)
            ));
        }
        for value in [y0, y1] {
            s.push_str(&format!(
                r#"<text x="{}" y="{}" class="a" text-anchor="end">{}</text>"#,
                pad - 4.0,
                sy(value) + 4.0,
                short(value)
            ));
        }
        s.push_str(&format!(
            r#"<text x="{}" y="{}" class="a">{}</text><text x="12" y="{}" class="a" transform="rotate(-90 12 {})">{}</text>"#,
            w / 2.0,
            h - 8.0,
            escape(self.x_label),
            h / 2.0,
            h / 2.0,
            escape(self.y_label)
        ));
        if self.diagonal {
            s.push_str(&format!(
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" class="d"/>"#,
                sx(x0),
                sy(y0),
                sx(x1),
                sy(y1)
            ));
        }
        for (points, class) in &self.lines {
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            s.push_str(&format!(r#"<polyline points="{}" class="{class}"/>"#, path.join(" ")));
        }
        if let Some(points) = self.dots {
            for (x, y) in points.iter() {
                s.push_str(&format!(r#"<circle cx="{:.1}" cy="{:.1}" r="2"/>"#, sx(*x), sy(*y)));
            }
        }
        s.push_str("</svg></figure>");
        s
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The Markdown's tables as HTML, with the charts, in one self-contained page (no script, no
/// request).
pub fn html(card: &Card) -> String {
    let mut body = String::new();
    let mut charts: Vec<(&str, String)> = Vec::new();
    if let Some(c) = &card.calibration {
        let points: Vec<(f64, f64)> = c.bins.iter().map(|b| (b.predicted, b.observed)).collect();
        charts.push((
            "Calibration",
            Chart {
                title: "Reliability",
                x_label: "predicted probability",
                y_label: "observed frequency",
                range: ((0.0, 1.0), (0.0, 1.0)),
                lines: vec![(&points, "l")],
                dots: Some(&points),
                diagonal: true,
            }
            .svg(),
        ));
    }
    if let Some(t) = &card.thresholds {
        charts.push((
            "Decision threshold",
            Chart {
                title: "ROC curve",
                x_label: "false-positive rate",
                y_label: "recall",
                range: ((0.0, 1.0), (0.0, 1.0)),
                lines: vec![(&t.roc, "l")],
                dots: None,
                diagonal: true,
            }
            .svg(),
        ));
        charts.push((
            "Decision threshold",
            Chart {
                title: "Precision-recall curve",
                x_label: "recall",
                y_label: "precision",
                range: ((0.0, 1.0), (0.0, 1.0)),
                lines: vec![(&t.pr, "l")],
                dots: None,
                diagonal: false,
            }
            .svg(),
        ));
    }
    if let Some(r) = &card.residuals {
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = r.points.iter().copied().unzip();
        xs.sort_by(f64::total_cmp);
        ys.sort_by(f64::total_cmp);
        let span = |v: &[f64]| (v.first().copied().unwrap_or(0.0), v.last().copied().unwrap_or(1.0));
        let (y_low, y_high) = span(&ys);
        let bound = y_low.abs().max(y_high.abs()).max(1e-9);
        let zero = [(span(&xs).0, 0.0), (span(&xs).1, 0.0)];
        charts.push((
            "Errors",
            Chart {
                title: "Residuals",
                x_label: "predicted",
                y_label: "actual − predicted",
                range: (span(&xs), (-bound, bound)),
                lines: vec![(&zero, "d")],
                dots: Some(&r.points),
                diagonal: false,
            }
            .svg(),
        ));
    }
    let mut in_table = false;
    let mut section = "";
    let charts_of = |section: &str| -> String {
        let svgs: Vec<&str> = charts
            .iter()
            .filter(|(s, _)| *s == section)
            .map(|(_, svg)| svg.as_str())
            .collect();
        if svgs.is_empty() {
            String::new()
        } else {
            format!("<div class=\"charts\">{}</div>", svgs.concat())
        }
    };
    let text = markdown(card);
    for line in text.lines() {
        if let Some(cells) = line.strip_prefix('|') {
            if line.starts_with("|---") {
                continue;
            }
            if !in_table {
                body.push_str("<table>");
                in_table = true;
            }
            body.push_str("<tr>");
            for cell in cells.trim_end_matches('|').split(" | ") {
                body.push_str(&format!("<td>{}</td>", inline(cell.trim())));
            }
            body.push_str("</tr>");
            continue;
        }
        if in_table {
            body.push_str("</table>");
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>", escape(h)));
        } else if let Some(h) = line.strip_prefix("## ") {
            body.push_str(&charts_of(section));
            section = h;
            body.push_str(&format!("<h2>{}</h2>", escape(h)));
        } else if let Some(q) = line.strip_prefix("> ") {
            body.push_str(&format!("<p class=\"public\">{}</p>", inline(q)));
        } else if let Some(item) = line.strip_prefix("- ") {
            body.push_str(&format!("<p>• {}</p>", inline(item)));
        } else if !line.trim().is_empty() {
            body.push_str(&format!("<p>{}</p>", inline(line)));
        }
    }
    if in_table {
        body.push_str("</table>");
    }
    body.push_str(&charts_of(section));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Model card: {}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(&card.model)
    )
}

/// Markdown's bold and code spans, escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split("**").enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<strong>{part}</strong>"));
        } else {
            for (j, piece) in part.split('`').enumerate() {
                if j % 2 == 1 {
                    out.push_str(&format!("<code>{piece}</code>"));
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#1f2933}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d9e2ec}\
table{border-collapse:collapse;margin:.5em 0}td{border:1px solid #d9e2ec;padding:.2em .6em;font-variant-numeric:tabular-nums}\
tr:first-child td{font-weight:600;background:#f0f4f8}.public{background:#fff8e1;border-left:4px solid #f0b429;padding:.5em 1em}\
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}svg .frame{fill:none;stroke:#9fb3c8}svg .t{font-size:13px;font-weight:600;text-anchor:middle}\
svg .a{font-size:11px;fill:#52606d;text-anchor:middle}svg .l{fill:none;stroke:#2680c2;stroke-width:2}svg .d{stroke:#bcccdc;stroke-dasharray:4}\
svg circle{fill:#2680c2;fill-opacity:.6}code{background:#f0f4f8;padding:0 .2em}";

/// Checks a bundle's card files against the hashes its manifest records; `Ok` when it has none.
pub fn check_card(dir: &Path, manifest: &Manifest) -> Result<()> {
    let Some(card) = &manifest.card else {
        return Ok(());
    };
    for file in [&card.markdown, &card.html] {
        let path = dir.join(&file.path);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("the manifest links {}, but it cannot be read", path.display()))?;
        let actual = wasm_predict::hash::sha256_hex(&bytes);
        if actual != file.sha256 {
            bail!(
                "{}: its sha256 is {actual}, the manifest records {}: remake the card (wasm-predict card)",
                path.display(),
                file.sha256
            );
        }
    }
    Ok(())
}

/// What `make_card` did, as text.
pub fn render(card: &Card, dir: &Path) -> String {
    format!(
        "wrote {} and {} in {}\n  {}\n",
        MARKDOWN_FILE,
        HTML_FILE,
        dir.display(),
        headline(card)
    )
}

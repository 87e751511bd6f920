//! The model-operation subcommands of the CLI: arguments in, a report printed (text or JSON),
//! an exit code out (0 pass, 1 refused or failed a gate, 2 error). The work is in `ops`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use wasm_predict_manifest::{Task, TimeWindow, TrainingData};
use wasm_predict_modelops::backtest::{self, Window};
use wasm_predict_modelops::bench::{self, BenchRequest, BrowserOptions};
use wasm_predict_modelops::bundle::{self, BundleRequest};
use wasm_predict_modelops::dataset::{read_table, Columns};
use wasm_predict_modelops::diff::{self, DiffThresholds};
use wasm_predict_modelops::promote::{self, PromoteRequest};
use wasm_predict_modelops::quantize::{self, QuantizeRequest};
use wasm_predict_modelops::{graph, verify};

/// Which columns of a data file mean what.
#[derive(clap::Args, Clone)]
pub struct DataColumns {
    /// The target column.
    #[arg(long, default_value = "target")]
    target: String,
    /// The feature columns, in model input order (default: every other column but the time column).
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
}

impl DataColumns {
    fn columns(&self, time: Option<&str>) -> Columns {
        Columns {
            target: Some(self.target.clone()),
            time: time.map(str::to_string),
            features: self.features.clone(),
        }
    }
}

/// The time-stamped history that backtest and promote replay.
#[derive(clap::Args)]
pub struct History {
    /// The history, CSV or Parquet.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    columns: DataColumns,
    /// The time column.
    #[arg(long)]
    time_column: String,
    /// Window size.
    #[arg(long, value_enum, default_value = "month")]
    window: Window,
}

impl History {
    fn dataset(&self, task: Task) -> Result<wasm_predict_modelops::dataset::Dataset> {
        read_table(&self.data)?.dataset(&self.columns.columns(Some(&self.time_column)), task)
    }
}

/// Model operations.
#[derive(Subcommand)]
pub enum OpsCommand {
    /// Inputs, outputs, ops by domain, parameters, int8 ops, and whether every node is supported.
    Inspect {
        /// The ONNX model.
        model: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a bundle: hash, schema, reference statistics, fixtures and requirement from a holdout.
    Bundle {
        /// The ONNX model.
        model: PathBuf,
        /// Bundle name (lowercase letters, digits, dashes).
        #[arg(long)]
        name: String,
        /// Semantic version.
        #[arg(long)]
        version: String,
        /// The labelled holdout, CSV or Parquet, with a header.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        columns: DataColumns,
        /// Classification or regression (default: read from the graph).
        #[arg(long, value_parser = ["classification", "regression"])]
        task: Option<String>,
        /// The folder of bundles.
        #[arg(long, default_value = "models")]
        out: PathBuf,
        /// The minimum is the holdout's metric less this margin…
        #[arg(long, default_value_t = 0.02)]
        margin: f64,
        /// …unless given outright.
        #[arg(long)]
        minimum: Option<f64>,
        /// Holdout rows kept as regression fixtures (besides one per class and three edge cases).
        #[arg(long, default_value_t = 8)]
        fixtures: usize,
        /// Fixture tolerance.
        #[arg(long, default_value_t = 1e-4)]
        tolerance: f32,
        /// Where the training data came from.
        #[arg(long, default_value = "not recorded")]
        training_source: String,
        /// Training rows.
        #[arg(long, default_value_t = 0)]
        training_rows: u64,
        /// The training data's time window, START..END (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        training_window: Option<String>,
        /// The model this one replaces, name@version.
        #[arg(long)]
        parent: Option<String>,
        /// The creation time to record (default: now).
        #[arg(long)]
        created: Option<String>,
        /// Replace an existing bundle of this name and version.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Load bundles as the browser does; check hash, schema, fixtures and the minimum performance.
    Verify {
        /// Bundle folders, or a models folder holding <name>/<version>/ bundles.
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Int8 quantization (weights, and activations from calibration data) within an accuracy budget.
    Quantize {
        /// The float ONNX model.
        model: PathBuf,
        /// Rows to calibrate activation ranges on, CSV or Parquet (the target column may be absent).
        #[arg(long)]
        calibration: PathBuf,
        /// Labelled rows to compare float and int8 on (default: the calibration rows).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        columns: DataColumns,
        /// Classification or regression (default: read from the graph).
        #[arg(long, value_parser = ["classification", "regression"])]
        task: Option<String>,
        /// Refuse the int8 model if the metric drops by more than this (0.5% or 0.005).
        #[arg(long, default_value = "0.5%", value_parser = quantize::parse_budget)]
        max_accuracy_drop: f64,
        /// Quantize weights only, not activations.
        #[arg(long)]
        weights_only: bool,
        /// Calibration rows used, at most.
        #[arg(long, default_value_t = 1000)]
        calibration_rows: usize,
        /// Where to write the int8 model.
        #[arg(long, short)]
        out: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The differential test of two bundles on the same data.
    Diff {
        /// The old bundle folder.
        old: PathBuf,
        /// The new bundle folder.
        new: PathBuf,
        /// Rows to compare, CSV or Parquet.
        #[arg(long)]
        data: PathBuf,
        /// The target column, if the data has one (then both models' metrics are shown).
        #[arg(long)]
        target: Option<String>,
        /// The feature columns (default: every other column but the time column).
        #[arg(long, value_delimiter = ',')]
        features: Option<Vec<String>>,
        /// A time column to leave out of the features.
        #[arg(long)]
        time_column: Option<String>,
        /// Fail when labels disagree on more than this share of rows.
        #[arg(long, default_value_t = 0.01)]
        max_disagreement: f64,
        /// Fail when any output differs by more than this.
        #[arg(long, default_value_t = 1.0)]
        max_abs_diff: f64,
        /// Rows listed among those that differ most.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Latency of two bundles per row and per batch, natively and in headless chromium, as NEW/OLD.
    Bench {
        /// The old bundle folder.
        old: PathBuf,
        /// The new bundle folder.
        new: PathBuf,
        /// Fail when NEW is slower than OLD by more than this in any setting (10% or 0.10).
        #[arg(long, default_value = "10%", value_parser = parse_ratio)]
        tolerance: f64,
        /// Rows per batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed blocks per version (interleaved; the figure is their median).
        #[arg(long, default_value_t = 15)]
        blocks: usize,
        /// One-row predictions per block.
        #[arg(long, default_value_t = 100)]
        per_block: usize,
        /// Skip the browser.
        #[arg(long)]
        native_only: bool,
        /// The chromium binary.
        #[arg(long, env = "CHROMIUM", default_value = "/usr/bin/chromium")]
        chromium: PathBuf,
        /// The built wasm package.
        #[arg(long, default_value = "pkg")]
        pkg: PathBuf,
        /// Seconds the browser side may take.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay the whole history through champion and challenger, window by window.
    Backtest {
        /// The champion's bundle folder.
        #[arg(long)]
        champion: PathBuf,
        /// The challenger's bundle folder.
        #[arg(long)]
        challenger: PathBuf,
        #[command(flatten)]
        history: History,
        /// Write the HTML report here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Write the JSON summary here.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the challenger the champion, if it earns it; raise its minimum (the ratchet).
    Promote {
        /// The challenger's bundle folder.
        challenger: PathBuf,
        /// The champion's bundle folder.
        #[arg(long)]
        over: PathBuf,
        #[command(flatten)]
        history: History,
        /// The challenger must beat the champion out of time by at least this.
        #[arg(long, default_value_t = 0.01)]
        margin: f64,
        /// The new minimum is what the challenger achieved on its holdout less this.
        #[arg(long, default_value_t = 0.01)]
        ratchet_margin: f64,
        /// Diff gate: most label disagreement allowed.
        #[arg(long, default_value_t = 0.5)]
        max_disagreement: f64,
        /// Diff gate: largest output difference allowed.
        #[arg(long, default_value_t = 1.0)]
        max_abs_diff: f64,
        /// The experiment config to start from.
        #[arg(long, default_value = "www/experiment.json")]
        experiment: PathBuf,
        /// Where to write the new config (default: over the one read).
        #[arg(long)]
        experiment_out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print(json: bool, value: &impl serde::Serialize, text: String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{text}");
    }
    Ok(())
}

/// Runs `work` under a spinner that says `message`, cleared when the work ends either way.
fn with_spinner<T>(message: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let result = work();
    bar.finish_and_clear();
    result
}

/// 0 when a gate passed, 1 when it refused.
fn verdict(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn training_window(text: &str) -> Result<TimeWindow> {
    let (start, end) = text.split_once("..").context("--training-window is START..END")?;
    for part in [start, end] {
        wasm_predict_modelops::dataset::parse_time(part)
            .with_context(|| format!("--training-window: `{part}` is not a time"))?;
    }
    Ok(TimeWindow {
        start: start.to_string(),
        end: end.to_string(),
    })
}

/// A non-negative share given as `10%` or `0.10`.
fn parse_ratio(text: &str) -> Result<f64> {
    let value = wasm_predict_modelops::parse_share(text)
        .ok_or_else(|| anyhow::anyhow!("`{text}` is not a share (say 10% or 0.10)"))?;
    anyhow::ensure!(value >= 0.0, "`{text}`: the tolerance is 0% or more");
    Ok(value)
}

fn task_of(name: &str) -> Task {
    if name == "regression" {
        Task::Regression
    } else {
        Task::Classification
    }
}

/// Runs one model operation.
pub fn run(command: OpsCommand) -> Result<ExitCode> {
    match command {
        OpsCommand::Inspect { model, json } => {
            let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
            let summary = graph::summarize(&bytes).with_context(|| model.display().to_string())?;
            print(json, &summary, graph::render(&model.display().to_string(), &summary))?;
            Ok(verdict(summary.support.supported))
        }
        OpsCommand::Bundle {
            model,
            name,
            version,
            data,
            columns,
            task,
            out,
            margin,
            minimum,
            fixtures,
            tolerance,
            training_source,
            training_rows,
            training_window: window,
            parent,
            created,
            force,
            json,
        } => {
            let request = BundleRequest {
                model,
                name,
                version,
                data,
                columns: columns.columns(None),
                task: task.as_deref().map(task_of),
                out,
                margin,
                minimum,
                sample: fixtures,
                tolerance,
                training: TrainingData {
                    source: training_source,
                    rows: training_rows,
                    window: window.as_deref().map(training_window).transpose()?,
                },
                parent,
                created,
                force,
            };
            let summary = with_spinner("bundling", || bundle::make_bundle(&request))?;
            print(json, &summary, bundle::render(&summary))?;
            Ok(ExitCode::SUCCESS)
        }
        OpsCommand::Verify { bundles, json } => {
            let mut folders = Vec::new();
            for path in bundles {
                if path.join("manifest.json").is_file() {
                    folders.push(path);
                } else {
                    folders.extend(verify::bundles_under(&path)?);
                }
            }
            let bar = ProgressBar::new(folders.len() as u64);
            let checks: Vec<_> = folders
                .iter()
                .map(|f| {
                    bar.set_message(f.display().to_string());
                    let check = verify::verify_bundle(f);
                    bar.inc(1);
                    check
                })
                .collect();
            bar.finish_and_clear();
            let text: String = checks.iter().map(verify::render).collect();
            print(json, &checks, text)?;
            Ok(verdict(checks.iter().all(|c| c.passed)))
        }
        OpsCommand::Quantize {
            model,
            calibration,
            data,
            columns,
            task,
            max_accuracy_drop,
            weights_only,
            calibration_rows,
            out,
            force,
            json,
        } => {
            let request = QuantizeRequest {
                model,
                calibration,
                data,
                columns: columns.columns(None),
                task: task.as_deref().map(task_of),
                activations: !weights_only,
                calibration_rows,
                max_drop: max_accuracy_drop,
                out,
                force,
            };
            let report = with_spinner("calibrating, quantizing, evaluating", || quantize::quantize(&request))?;
            print(json, &report, quantize::render(&report))?;
            Ok(verdict(report.accepted))
        }
        OpsCommand::Diff {
            old,
            new,
            data,
            target,
            features,
            time_column,
            max_disagreement,
            max_abs_diff,
            top,
            json,
        } => {
            let (mut a, mut b) = (verify::load(&old)?, verify::load(&new)?);
            let task = a.manifest().task;
            let columns = Columns {
                target,
                time: time_column,
                features,
            };
            let dataset = read_table(&data)?.dataset(&columns, task)?;
            let report = diff::diff(
                &mut a,
                &mut b,
                &dataset,
                DiffThresholds {
                    max_disagreement,
                    max_abs_diff,
                },
                top,
            )?;
            print(json, &report, diff::render(&report))?;
            Ok(verdict(report.failures.is_empty()))
        }
        OpsCommand::Bench {
            old,
            new,
            tolerance,
            batch,
            blocks,
            per_block,
            native_only,
            chromium,
            pkg,
            timeout,
            json,
        } => {
            anyhow::ensure!(
                batch > 0 && blocks > 0 && per_block > 0,
                "--batch, --blocks and --per-block must be positive"
            );
            let request = BenchRequest {
                old,
                new,
                batch,
                blocks,
                per_block,
                tolerance,
                browser: (!native_only).then(|| BrowserOptions {
                    chromium,
                    pkg,
                    timeout: Duration::from_secs(timeout),
                }),
            };
            let report = with_spinner("timing both versions, natively then in chromium", || {
                bench::bench(&request)
            })?;
            print(json, &report, bench::render(&report))?;
            Ok(verdict(report.passed))
        }
        OpsCommand::Backtest {
            champion,
            challenger,
            history,
            html,
            summary,
            json,
        } => {
            let (mut a, mut b) = (verify::load(&champion)?, verify::load(&challenger)?);
            let dataset = history.dataset(a.manifest().task)?;
            let report = with_spinner("backtesting", || {
                backtest::backtest(&mut a, &mut b, &dataset, history.window)
            })?;
            if let Some(path) = &html {
                std::fs::write(path, backtest::html(&report)).with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &summary {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            print(json, &report, backtest::render(&report))?;
            Ok(ExitCode::SUCCESS)
        }
        OpsCommand::Promote {
            challenger,
            over,
            history,
            margin,
            ratchet_margin,
            max_disagreement,
            max_abs_diff,
            experiment,
            experiment_out,
            json,
        } => {
            let task = verify::load(&over)?.manifest().task;
            let dataset = history.dataset(task)?;
            let request = PromoteRequest {
                challenger,
                champion: over,
                window: history.window,
                margin,
                ratchet_margin,
                thresholds: DiffThresholds {
                    max_disagreement,
                    max_abs_diff,
                },
                experiment_out: experiment_out.unwrap_or_else(|| experiment.clone()),
                experiment,
            };
            let report = with_spinner("checking the challenger", || promote::promote(&request, &dataset))?;
            print(json, &report, promote::render(&report))?;
            Ok(verdict(report.promoted))
        }
    }
}

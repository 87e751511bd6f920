//! Arguments several subcommands share, and the parsing of their values.

use std::path::PathBuf;

use anyhow::{Context, Result};
use wasm_predict_collector::experiment::{self, Configs};
use wasm_predict_collector::site::Site;
use wasm_predict_manifest::{Manifest, Task, TimeWindow};
use wasm_predict_modelops::backtest::Window;
use wasm_predict_modelops::budget;
use wasm_predict_modelops::dataset::{read_table, Columns};

/// Bundles named on the command line, and the output format.
#[derive(clap::Args)]
pub struct Bundles {
    /// Bundle folders, or a models folder holding <name>/<version>/ bundles.
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which columns of a data file mean what.
#[derive(clap::Args, Clone)]
pub struct DataColumns {
    /// The target column.
    #[arg(long, default_value = "target")]
    pub target: String,
    /// The feature columns, in model input order (default: every other column but the time column).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
}

impl DataColumns {
    /// The columns as the dataset reader takes them, with `time` as the time column.
    pub fn columns(&self, time: Option<&str>) -> Columns {
        Columns {
            target: Some(self.target.clone()),
            time: time.map(str::to_string),
            features: self.features.clone(),
        }
    }
}

/// The budget and the output of a rewrite (`quantize`, `prune`).
#[derive(clap::Args)]
pub struct RewriteOutput {
    /// Refuse the rewritten model if the metric drops by more than this (0.5% or 0.005).
    #[arg(long, default_value = "0.5%", value_parser = budget::parse_budget)]
    pub max_accuracy_drop: f64,
    /// Where to write the rewritten model (only if it keeps within the budget).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The time-stamped history that backtest and promote replay.
#[derive(clap::Args)]
pub struct History {
    /// The history, CSV or Parquet.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: DataColumns,
    /// The time column.
    #[arg(long)]
    pub time_column: String,
    /// Window size: day, week, month or quarter.
    #[arg(long, default_value = "month")]
    pub window: Window,
}

impl History {
    /// Reads the history as inputs of the model `manifest` describes.
    pub fn dataset(&self, manifest: &Manifest) -> Result<wasm_predict_modelops::dataset::Dataset> {
        read_table(&self.data)?.dataset_for(&self.columns.columns(Some(&self.time_column)), manifest)
    }
}

/// Where the data and configs are; shared by `serve` and `report`.
#[derive(clap::Args, Clone)]
pub struct Sources {
    /// Database: a SQLite file (or sqlite:PATH), or postgres://user@host/db.
    #[arg(long, env = "WASM_PREDICT_DB", default_value = "target/wasm-predict.db")]
    pub db: String,
    /// The experiment config (the one the shell reads; default: www/experiment.json of the site).
    #[arg(long, env = "WASM_PREDICT_EXPERIMENT")]
    pub experiment: Option<PathBuf>,
    /// A folder holding www/, pkg/ and models/ to serve instead of the files built into the
    /// binary (development: edits show at once).
    #[arg(long, env = "WASM_PREDICT_ROOT")]
    pub root: Option<PathBuf>,
    /// A folder of bundles (<name>/<version>/) to serve and judge instead of the site's models/.
    #[arg(long, env = "WASM_PREDICT_MODELS")]
    pub models: Option<PathBuf>,
}

impl Sources {
    /// The served files these arguments name.
    pub fn site(&self) -> Site {
        let site = match &self.root {
            Some(root) => Site::folder(root.clone()),
            None => Site::embedded(),
        };
        match &self.models {
            Some(models) => site.with_models(models.clone()),
            None => site,
        }
    }

    /// The experiment configs these arguments name (no folder of more).
    pub fn configs(&self) -> Configs {
        Configs {
            served: self.experiment.clone(),
            site: self.site(),
            folder: None,
        }
    }

    /// The bundles these arguments name.
    pub fn bundles(&self) -> experiment::Bundles {
        experiment::Bundles::new(self.site())
    }
}

/// A training window given as `START..END`.
pub fn training_window(text: &str) -> Result<TimeWindow> {
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
pub fn parse_ratio(text: &str) -> Result<f64> {
    let value = wasm_predict_modelops::parse_share(text)
        .ok_or_else(|| anyhow::anyhow!("`{text}` is not a share (say 10% or 0.10)"))?;
    anyhow::ensure!(value >= 0.0, "`{text}`: the tolerance is 0% or more");
    Ok(value)
}

/// The task a `--task` value names.
pub fn task_of(name: &str) -> Task {
    if name == "regression" {
        Task::Regression
    } else {
        Task::Classification
    }
}

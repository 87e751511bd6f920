//! `wasm-predict bundle`: make a bundle: hash, schema, reference statistics, fixtures and
//! requirement from a holdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_manifest::TrainingData;
use wasm_predict_modelops::bundle::{self, BundleRequest};
use wasm_predict_modelops::threshold::Goal;

use crate::args::{task_of, training_window, DataColumns};
use crate::output::{print, with_spinner};

/// The arguments of `wasm-predict bundle`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Bundle name (lowercase letters, digits, dashes).
    #[arg(long)]
    pub name: String,
    /// Semantic version.
    #[arg(long)]
    pub version: String,
    /// The labelled holdout, CSV or Parquet, with a header.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: DataColumns,
    /// Classification or regression (default: read from the graph).
    #[arg(long, value_parser = ["classification", "regression"])]
    pub task: Option<String>,
    /// The folder of bundles.
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    /// The minimum is the holdout's metric less this margin…
    #[arg(long, default_value_t = 0.02)]
    pub margin: f64,
    /// …unless given outright.
    #[arg(long)]
    pub minimum: Option<f64>,
    /// Holdout rows kept as regression fixtures (besides one per class and three edge cases).
    #[arg(long, default_value_t = 8)]
    pub fixtures: usize,
    /// Fixture tolerance.
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f32,
    /// Where the training data came from.
    #[arg(long, default_value = "not recorded")]
    pub training_source: String,
    /// Training rows.
    #[arg(long, default_value_t = 0)]
    pub training_rows: u64,
    /// The training data's time window, START..END (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub training_window: Option<String>,
    /// The model this one replaces, name@version.
    #[arg(long)]
    pub parent: Option<String>,
    /// The creation time to record (default: now).
    #[arg(long)]
    pub created: Option<String>,
    /// A binary classifier's decision threshold: the positive class's least probability for it
    /// to be the label (default: the most probable class).
    #[arg(long, value_parser = Goal::parse_threshold, conflicts_with = "threshold_for")]
    pub threshold: Option<Goal>,
    /// Choose the threshold on the holdout for a goal: recall=0.9, precision=0.95 or fpr=0.05.
    #[arg(long, value_parser = Goal::parse_target)]
    pub threshold_for: Option<Goal>,
    /// The class the threshold is about (default: the second class).
    #[arg(long)]
    pub positive_class: Option<String>,
    /// A column of the holdout to break the card's errors down by (repeatable).
    #[arg(long = "slice")]
    pub slices: Vec<String>,
    /// Do not write the model card.
    #[arg(long)]
    pub no_card: bool,
    /// Replace an existing bundle of this name and version.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict bundle`.
pub fn exec(args: Args) -> Result<ExitCode> {
    if args.positive_class.is_some() && args.threshold.is_none() && args.threshold_for.is_none() {
        anyhow::bail!("--positive-class names the class of a threshold: give --threshold or --threshold-for too");
    }
    let request = BundleRequest {
        model: args.model,
        name: args.name,
        version: args.version,
        data: args.data,
        columns: args.columns.columns(None),
        task: args.task.as_deref().map(task_of),
        out: args.out,
        margin: args.margin,
        minimum: args.minimum,
        sample: args.fixtures,
        tolerance: args.tolerance,
        training: TrainingData {
            source: args.training_source,
            rows: args.training_rows,
            window: args.training_window.as_deref().map(training_window).transpose()?,
        },
        parent: args.parent,
        created: args.created,
        force: args.force,
        threshold: args
            .threshold
            .or(args.threshold_for)
            .map(|goal| (goal, args.positive_class)),
        card: (!args.no_card).then_some(args.slices),
    };
    let summary = with_spinner("bundling", || bundle::make_bundle(&request))?;
    print(args.json, &summary, bundle::render(&summary))?;
    Ok(ExitCode::SUCCESS)
}

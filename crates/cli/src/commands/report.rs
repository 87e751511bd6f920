//! `wasm-predict report`: print a report from the stored events.

use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_collector::alerts::post_webhook;
use wasm_predict_collector::render;
use wasm_predict_collector::reports::{drift, from_store, now_test, review};
use wasm_predict_collector::rollup;
use wasm_predict_collector::serve::{parse_duration, window, Database};
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::{Alert, EventStore};

use clap::ValueEnum;

use crate::args::Sources;

/// The arguments of `wasm-predict report`.
#[derive(clap::Args)]
pub struct Args {
    /// Which report.
    pub kind: ReportKind,
    #[command(flatten)]
    pub sources: Sources,
    /// The model (drift, now-test): name@version; default the champion's bundle.
    #[arg(long)]
    pub model: Option<String>,
    /// Only events of this recent window (30m, 24h, 7d).
    #[arg(long)]
    pub window: Option<String>,
    /// PSI threshold (drift).
    #[arg(long, default_value_t = drift::DEFAULT_PSI_THRESHOLD)]
    pub threshold: f64,
    /// Fewest labelled outcomes for a verdict (now-test).
    #[arg(long, default_value_t = now_test::DEFAULT_MIN_OUTCOMES)]
    pub min_outcomes: u64,
    /// Post a failing now-test to this URL.
    #[arg(long, env = "WASM_PREDICT_WEBHOOK")]
    pub webhook: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the review queue as CSV.
    #[arg(long)]
    pub csv: bool,
    /// Most review items, newest first.
    #[arg(long, default_value_t = from_store::DEFAULT_REVIEW_LIMIT)]
    pub limit: usize,
}

/// Runs `wasm-predict report`.
pub async fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        kind,
        sources,
        model,
        window: span,
        threshold,
        min_outcomes,
        webhook,
        json,
        csv,
        limit,
    } = args;
    let request = ReportRequest {
        kind,
        sources: sources.clone(),
        model,
        span,
        threshold,
        min_outcomes,
        webhook,
        json,
        csv,
        limit,
    };
    match Database::parse(&sources.db) {
        Database::Sqlite(path) => {
            if !path.exists() {
                anyhow::bail!("no database at {}", path.display());
            }
            report(SqliteStore::open(&path)?, request).await
        }
        Database::Postgres(url) => report(PostgresStore::connect(&url, 2).await?, request).await,
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReportKind {
    /// Per arm figures, challenger vs champion, sample ratio mismatch.
    Ab,
    /// PSI and chi-square per feature and for the predictions.
    Drift,
    /// Recent outcomes against the manifest's minimum (exit 1 below it).
    NowTest,
    /// Low-confidence predictions to label.
    Review,
}

struct ReportRequest {
    kind: ReportKind,
    sources: Sources,
    model: Option<String>,
    span: Option<String>,
    threshold: f64,
    min_outcomes: u64,
    webhook: Option<String>,
    json: bool,
    csv: bool,
    limit: usize,
}

async fn report<S: EventStore>(store: S, request: ReportRequest) -> Result<ExitCode> {
    let since = match &request.span {
        Some(text) => Some(chrono::Utc::now() - window(parse_duration(text)?)),
        None => None,
    };
    let experiment = request.sources.configs().served()?;
    let bundles = request.sources.bundles();
    rollup::rebuild_if_stale(&store, &bundles).await?;
    store.settle_waiting().await?;
    let bundle = request
        .model
        .clone()
        .unwrap_or_else(|| experiment.champion_arm().bundle.clone());
    let (name, version) = bundle
        .split_once('@')
        .ok_or_else(|| anyhow::anyhow!("--model must be name@version, got `{bundle}`"))?;
    let print = |text: String, value: serde_json::Value| {
        if request.json {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        } else {
            print!("{text}");
        }
    };
    match request.kind {
        ReportKind::Ab => {
            let r = from_store::ab(&store, &experiment, &bundles, since).await?;
            print(render::ab(&r), serde_json::to_value(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        ReportKind::Drift => {
            let manifest = bundles.manifest(name, version)?;
            let r = from_store::drift(&store, &experiment, &manifest, since, request.threshold).await?;
            print(render::drift(&r), serde_json::to_value(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        ReportKind::NowTest => {
            let manifest = bundles.manifest(name, version)?;
            let r = from_store::now_test(&store, &experiment, &manifest, since, request.min_outcomes).await?;
            print(render::now_test(&r), serde_json::to_value(&r)?);
            if r.verdict != now_test::Verdict::Fail {
                return Ok(ExitCode::SUCCESS);
            }
            let alert = Alert {
                time: chrono::Utc::now(),
                kind: "now-test".into(),
                subject: r.model.clone(),
                message: format!(
                    "{} is below its minimum {} on {} recent outcomes",
                    r.model, r.minimum, r.outcomes
                ),
                details: serde_json::to_value(&r)?,
            };
            store.record_alert(alert.clone()).await?;
            if let Some(url) = &request.webhook {
                post_webhook(url, &alert).await;
            }
            Ok(ExitCode::from(1))
        }
        ReportKind::Review => {
            let items = from_store::review(&store, &experiment, since, request.limit).await?;
            if request.csv {
                print!("{}", review::review_csv(&items)?);
            } else {
                print(render::review(&items), serde_json::to_value(&items)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `wasm-predict`: the collector (`serve`), its reports from the command line (`report`), a
//! bounded load generator (`load-test`), and the model operations (`inspect`, `bundle`,
//! `verify`, `diff`, `backtest`, `promote`).

mod ops_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use wasm_predict_collector::alerts::{post_webhook, Watchdog};
use wasm_predict_collector::experiment::Bundles;
use wasm_predict_collector::http::report_inputs;
use wasm_predict_collector::load_test::{self, LoadPlan};
use wasm_predict_collector::render;
use wasm_predict_collector::reports::{ab, drift, now_test, review};
use wasm_predict_collector::serve::{parse_duration, random_token, serve, window, Database, ServeOptions};
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::{Alert, EventStore};

/// Ship a model into web pages, and watch it there.
#[derive(Parser)]
#[command(name = "wasm-predict", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data and configs are; shared by `serve` and `report`.
#[derive(clap::Args, Clone)]
struct Sources {
    /// Database: a SQLite file (or sqlite:PATH), or postgres://user@host/db.
    #[arg(long, env = "WASM_PREDICT_DB", default_value = "target/wasm-predict.db")]
    db: String,
    /// The experiment config (the one the shell reads).
    #[arg(long, default_value = "www/experiment.json")]
    experiment: PathBuf,
    /// Folder holding www/, pkg/ and models/.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Ops(ops_cli::OpsCommand),
    /// Serve the demo, the package, the bundles, the ingest API, the reports and the dashboard.
    Serve {
        #[command(flatten)]
        sources: Sources,
        /// Address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Bearer token for the reports and the dashboard (random when not given).
        #[arg(long, env = "WASM_PREDICT_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// An origin allowed to post events cross-site (repeatable); none: same origin only.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// Ingest requests per second per client (0: unlimited).
        #[arg(long, default_value_t = 50.0)]
        rate_limit: f64,
        /// Burst size of the rate limit.
        #[arg(long, default_value_t = 100.0)]
        rate_burst: f64,
        /// How often the now-test runs (30s, 5m, 1h).
        #[arg(long, default_value = "60s")]
        now_test_every: String,
        /// How far back the now-test looks.
        #[arg(long, default_value = "7d")]
        now_test_window: String,
        /// Where alerts are posted as JSON.
        #[arg(long, env = "WASM_PREDICT_WEBHOOK")]
        webhook: Option<String>,
        /// PostgreSQL connections per collector.
        #[arg(long, default_value_t = 16)]
        pool_size: usize,
    },
    /// Print a report from the stored events.
    Report {
        /// Which report.
        kind: ReportKind,
        #[command(flatten)]
        sources: Sources,
        /// The model (drift, now-test): name@version; default the champion's bundle.
        #[arg(long)]
        model: Option<String>,
        /// Only events of this recent window (30m, 24h, 7d).
        #[arg(long)]
        window: Option<String>,
        /// PSI threshold (drift).
        #[arg(long, default_value_t = drift::DEFAULT_PSI_THRESHOLD)]
        threshold: f64,
        /// Fewest labelled outcomes for a verdict (now-test).
        #[arg(long, default_value_t = now_test::DEFAULT_MIN_OUTCOMES)]
        min_outcomes: u64,
        /// Post a failing now-test to this URL.
        #[arg(long, env = "WASM_PREDICT_WEBHOOK")]
        webhook: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print the review queue as CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Load the ingest with concurrent clients for a bounded time; prints throughput and latency.
    LoadTest {
        /// The collector's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Events per request.
        #[arg(long, default_value_t = 20)]
        batch: usize,
        /// Append each acknowledged event id to this file.
        #[arg(long)]
        acked_file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportKind {
    /// Per arm figures, challenger vs champion, sample ratio mismatch.
    Ab,
    /// PSI and chi-square per feature and for the predictions.
    Drift,
    /// Recent outcomes against the manifest's minimum (exit 1 below it).
    NowTest,
    /// Low-confidence predictions to label.
    Review,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tokio_postgres=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(Cli::parse())) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ops(command) => ops_cli::run(command),
        Command::Serve {
            sources,
            addr,
            admin_token,
            cors_origins,
            rate_limit,
            rate_burst,
            now_test_every,
            now_test_window,
            webhook,
            pool_size,
        } => {
            let options = ServeOptions {
                addr,
                root: sources.root,
                database: Database::parse(&sources.db),
                experiment: sources.experiment,
                admin_token: match admin_token {
                    Some(token) if !token.is_empty() => token,
                    _ => random_token()?,
                },
                cors_origins,
                rate_limit: (rate_limit, rate_burst),
                watchdog: Watchdog {
                    every: parse_duration(&now_test_every)?,
                    window: window(parse_duration(&now_test_window)?),
                    webhook,
                },
                pool_size,
            };
            serve(options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            kind,
            sources,
            model,
            window: span,
            threshold,
            min_outcomes,
            webhook,
            json,
            csv,
        } => {
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
        Command::LoadTest {
            url,
            clients,
            seconds,
            batch,
            acked_file,
            json,
        } => {
            if !(seconds > 0.0 && seconds <= 3600.0) || clients == 0 || clients > 10_000 || batch == 0 || batch > 500 {
                anyhow::bail!("load-test is bounded: 0 < seconds <= 3600, 1..=10000 clients, 1..=500 events per batch");
            }
            let plan = LoadPlan {
                url,
                clients,
                duration: std::time::Duration::from_secs_f64(seconds),
                batch,
                acked_file,
            };
            let result = load_test::run(plan).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!(
                    "{} clients, {:.1} s: {} events acknowledged ({:.0}/s) in {} requests; latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; {} rate-limited, {} failed",
                    result.clients, result.seconds, result.acknowledged_events, result.events_per_second, result.acknowledged_requests,
                    result.p50_ms, result.p95_ms, result.p99_ms, result.rate_limited, result.failed_requests
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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
}

async fn report<S: EventStore>(store: S, request: ReportRequest) -> Result<ExitCode> {
    let since = match &request.span {
        Some(text) => Some(chrono::Utc::now() - window(parse_duration(text)?)),
        None => None,
    };
    let (experiment, events) = report_inputs(&store, &request.sources.experiment, since).await?;
    let bundles = Bundles {
        root: request.sources.root.join("models"),
    };
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
            let r = ab::ab_report(&experiment, &events);
            print(render::ab(&r), serde_json::to_value(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        ReportKind::Drift => {
            let r = drift::drift_report(&bundles.manifest(name, version)?, &events, request.threshold);
            print(render::drift(&r), serde_json::to_value(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        ReportKind::NowTest => {
            let r = now_test::now_test(&bundles.manifest(name, version)?, &events, request.min_outcomes);
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
            let items = review::review_queue(&events);
            if request.csv {
                print!("{}", review::review_csv(&items)?);
            } else {
                print(render::review(&items), serde_json::to_value(&items)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

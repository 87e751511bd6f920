//! `wasm-predict`: the collector (`serve`), its reports from the command line (`report`,
//! `rebuild-rollups`), retention (`purge`), a
//! bounded load generator (`load-test`), and the model operations (`inspect`, `bundle`,
//! `verify`, `plan`, `quantize`, `prune`, `diff`, `bench`, `backtest`, `promote`): one module per subcommand in
//! `commands/`, each with its arguments and an `exec` that calls the library crates.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The system allocator, counting the bytes allocated and their peak while `bundle` and `verify`
/// measure a bundle's memory (`wasm_predict_modelops::memory`), and only then.
#[global_allocator]
static HEAP: wasm_predict_modelops::memory::CountingAlloc = wasm_predict_modelops::memory::CountingAlloc;

/// Ship a model into web pages, and watch it there.
#[derive(Parser)]
#[command(name = "wasm-predict", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as `text` or as `json` (one object per line, for a log collector).
    #[arg(
        long,
        global = true,
        env = "WASM_PREDICT_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// For a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Inputs, outputs, ops by domain, parameters, int8 ops, and whether every node is supported.
    Inspect(commands::inspect::Args),
    /// Make a bundle: hash, schema, reference statistics, fixtures and requirement from a holdout.
    Bundle(commands::bundle::Args),
    /// The model card: what the model gets wrong, calibration, thresholds, slices, size, latency.
    Card(commands::card::Args),
    /// Load bundles as the browser does; check hash, schema, fixtures and the minimum performance.
    Verify(commands::verify::Args),
    /// Compile bundles for the runtime: model.plan, loaded in the browser without the ONNX importer.
    Plan(commands::plan::Args),
    /// Int8 quantization (weights, and activations from calibration data) within an accuracy budget.
    Quantize(commands::quantize::Args),
    /// Magnitude pruning of MatMul, Gemm and Conv weights within an accuracy budget (smaller gzipped).
    Prune(commands::prune::Args),
    /// The differential test of two bundles on the same data.
    Diff(commands::diff::Args),
    /// Latency of two bundles per row and per batch, natively and in headless chromium, as NEW/OLD.
    Bench(commands::bench::Args),
    /// Replay the whole history through champion and challenger, window by window.
    Backtest(commands::backtest::Args),
    /// Make the challenger the champion, if it earns it; raise its minimum (the ratchet).
    Promote(commands::promote::Args),
    /// Serve the demo, the package, the bundles, the ingest API, the reports and the dashboard.
    Serve(commands::serve::Args),
    /// Print a report from the stored events.
    Report(commands::report::Args),
    /// Recompute the tables the reports read (rollups) from the stored events.
    RebuildRollups(commands::rebuild_rollups::Args),
    /// Delete old events, or a client's (a request to be forgotten), and what they added to the reports.
    Purge(commands::purge::Args),
    /// Load the ingest with concurrent clients for a bounded time; prints throughput and latency.
    LoadTest(commands::load_test::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tokio_postgres=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => commands::inspect::exec(args),
        Command::Bundle(args) => commands::bundle::exec(args),
        Command::Card(args) => commands::card::exec(args),
        Command::Verify(args) => commands::verify::exec(args),
        Command::Plan(args) => commands::plan::exec(args),
        Command::Quantize(args) => commands::quantize::exec(args),
        Command::Prune(args) => commands::prune::exec(args),
        Command::Diff(args) => commands::diff::exec(args),
        Command::Bench(args) => commands::bench::exec(args),
        Command::Backtest(args) => commands::backtest::exec(args),
        Command::Promote(args) => commands::promote::exec(args),
        Command::Serve(args) => commands::serve::exec(args).await,
        Command::Report(args) => commands::report::exec(args).await,
        Command::RebuildRollups(args) => commands::rebuild_rollups::exec(args).await,
        Command::Purge(args) => commands::purge::exec(args).await,
        Command::LoadTest(args) => commands::load_test::exec(args).await,
    }
}

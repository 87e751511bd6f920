//! `wasm-predict load-test`: load the ingest with concurrent clients for a bounded time; prints
//! throughput and latency.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_collector::load_test::{self, LoadPlan};

/// The arguments of `wasm-predict load-test`.
#[derive(clap::Args)]
pub struct Args {
    /// The collector's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Events per request.
    #[arg(long, default_value_t = 20)]
    pub batch: usize,
    /// Append each acknowledged event id to this file.
    #[arg(long)]
    pub acked_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict load-test`.
pub async fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        url,
        clients,
        seconds,
        batch,
        acked_file,
        json,
    } = args;
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

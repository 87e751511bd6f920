//! `wasm-predict rebuild-rollups`: recompute the tables the reports read from the stored events.

use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_collector::experiment::Bundles;
use wasm_predict_collector::rollup;
use wasm_predict_collector::serve::Database;
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::EventStore;

use crate::args::Sources;

/// The arguments of `wasm-predict rebuild-rollups`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub sources: Sources,
}

/// Runs `wasm-predict rebuild-rollups`.
pub async fn exec(args: Args) -> Result<ExitCode> {
    let bundles = args.sources.bundles();
    match Database::parse(&args.sources.db) {
        Database::Sqlite(path) => {
            if !path.exists() {
                anyhow::bail!("no database at {}", path.display());
            }
            rebuild(SqliteStore::open(&path)?, &bundles).await
        }
        Database::Postgres(url) => rebuild(PostgresStore::connect(&url, 2).await?, &bundles).await,
    }
}

async fn rebuild<S: EventStore>(store: S, bundles: &Bundles) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let read = rollup::rebuild(&store, bundles).await?;
    println!(
        "rebuilt the rollups from {read} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

//! `wasm-predict purge`: delete old events, or every event of one client (a user's request to be
//! forgotten), with what they added to the reports.

use std::process::ExitCode;

use anyhow::{bail, Result};
use wasm_predict_collector::retention;
use wasm_predict_collector::rollup;
use wasm_predict_collector::serve::Database;
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::EventStore;

use crate::args::Sources;

/// The arguments of `wasm-predict purge`.
#[derive(clap::Args)]
#[group(id = "what", required = true, multiple = false)]
pub struct Args {
    #[command(flatten)]
    pub sources: Sources,
    /// Delete events made longer ago than this (90d, 12h), to the hour.
    #[arg(long, group = "what")]
    pub older_than: Option<String>,
    /// Delete every event of this client id.
    #[arg(long, group = "what")]
    pub client: Option<String>,
}

/// Runs `wasm-predict purge`.
pub async fn exec(args: Args) -> Result<ExitCode> {
    match Database::parse(&args.sources.db) {
        Database::Sqlite(path) => {
            if !path.exists() {
                bail!("no database at {}", path.display());
            }
            purge(SqliteStore::open(&path)?, &args).await
        }
        Database::Postgres(url) => purge(PostgresStore::connect(&url, 2).await?, &args).await,
    }
}

async fn purge<S: EventStore>(store: S, args: &Args) -> Result<ExitCode> {
    let bundles = args.sources.bundles();
    rollup::rebuild_if_stale(&store, &bundles).await?;
    match (&args.older_than, &args.client) {
        (Some(age), _) => {
            let before = retention::cutoff(age).map_err(|e| anyhow::anyhow!("--older-than: {e:#}"))?;
            let (deleted, kept) = retention::purge_older(&store, before).await?;
            println!("deleted {deleted} events made before {}", kept.to_rfc3339());
        }
        (None, Some(client)) => {
            if client.is_empty() {
                bail!("--client: the client id is empty");
            }
            let deleted = retention::purge_client(&store, &bundles, client).await?;
            println!("deleted {deleted} events of client {client}");
        }
        (None, None) => bail!("give --older-than or --client"),
    }
    Ok(ExitCode::SUCCESS)
}

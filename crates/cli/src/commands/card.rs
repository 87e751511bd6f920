//! `wasm-predict card`: the model card beside a bundle's manifest (`card.md`, `card.html`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_modelops::card::{self, CardRequest};

use crate::args::DataColumns;
use crate::output::{print, with_spinner};

/// The arguments of `wasm-predict card`.
#[derive(clap::Args)]
pub struct Args {
    /// The bundle folder (holding manifest.json).
    pub bundle: PathBuf,
    /// Labelled rows, CSV or Parquet (default: the bundle's holdout sample).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub columns: DataColumns,
    /// A column of the data to break the errors down by (repeatable).
    #[arg(long = "slice")]
    pub slices: Vec<String>,
    /// How many of the rows it gets most wrong to show.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
    /// Print the card's figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wasm-predict card`.
pub fn exec(args: Args) -> Result<ExitCode> {
    let request = CardRequest {
        bundle: args.bundle.clone(),
        data: args.data,
        columns: args.columns.columns(None),
        slices: args.slices,
        examples: args.examples,
    };
    let made = with_spinner("making the model card", || card::make_card(&request))?;
    print(args.json, &made, card::render(&made, &args.bundle))?;
    Ok(ExitCode::SUCCESS)
}

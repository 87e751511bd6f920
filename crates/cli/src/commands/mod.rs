//! One module per subcommand: its arguments (`Args`) and what it does (`exec`).

pub mod backtest;
pub mod bench;
pub mod bundle;
pub mod card;
pub mod diff;
pub mod inspect;
pub mod load_test;
pub mod plan;
pub mod promote;
pub mod prune;
pub mod purge;
pub mod quantize;
pub mod rebuild_rollups;
pub mod report;
pub mod serve;
pub mod verify;

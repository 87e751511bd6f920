//! Model operations, one module per subcommand, all on the predictor the browser runs:
//! inspect, bundle, verify, quantize, diff, bench, backtest, promote.

pub mod backtest;
pub mod bundle;
pub mod dataset;
pub mod diff;
pub mod evaluate;
pub mod graph;
pub mod int8;
pub mod promote;
pub mod quantize;
pub mod verify;

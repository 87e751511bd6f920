//! The native side of wasm-predict: the collector that receives the shell's telemetry, stores it
//! (SQLite or PostgreSQL), judges the A/B test, watches for drift and for models falling below
//! their requirement, and serves the demo and the dashboard. `main.rs` is the CLI over it.

pub mod alerts;
pub mod events;
pub mod experiment;
pub mod http;
pub mod load_test;
pub mod prometheus;
pub mod rate_limit;
pub mod render;
pub mod reports;
pub mod retention;
pub mod rollup;
pub mod serve;
pub mod site;
pub mod store;

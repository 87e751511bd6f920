//! Model operations, one module per subcommand, all on the predictor the browser runs:
//! inspect, bundle, card, verify, quantize, diff, bench, backtest, promote; and the memory a bundle
//! takes.

pub mod backtest;
pub mod bench;
pub mod browser_bench;
pub mod bundle;
pub mod card;
pub mod dataset;
pub mod diff;
pub mod evaluate;
pub mod graph;
pub mod int8;
pub mod memory;
pub mod plan;
pub mod promote;
pub mod quantize;
pub mod threshold;
pub mod verify;

/// A share written as a percentage (`0.5%`) or a fraction (`0.005`); `None` if it is neither.
pub fn parse_share(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => trimmed.parse::<f64>().ok()?,
    };
    value.is_finite().then_some(value)
}

/// The upper median (the middle value, or the higher of the two middle ones); 0 for no values.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

//! Model operations, one module per subcommand, all on the predictor the browser runs:
//! inspect, bundle, card, verify, quantize, prune, diff, bench, backtest, promote; and the memory a
//! bundle takes.

pub mod backtest;
pub mod bench;
pub mod browser_bench;
pub mod budget;
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
pub mod prune;
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

/// A share between 0% and 100% given as `50%` or as a fraction (`0.5`); `what` names it in
/// errors (`a budget`), `example` shows how to write one.
pub fn parse_fraction(text: &str, what: &str, example: &str) -> anyhow::Result<f64> {
    let value = parse_share(text).ok_or_else(|| anyhow::anyhow!("`{text}` is not {what} (say {example})"))?;
    anyhow::ensure!((0.0..=1.0).contains(&value), "`{text}`: {what} is between 0% and 100%");
    Ok(value)
}

/// The upper median (the middle value, or the higher of the two middle ones); 0 for no values.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

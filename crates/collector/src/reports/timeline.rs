//! Predictions and latency per arm over time, for the dashboard's charts.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::rollup::{sketch, TimelineRow};

/// One arm's counts in one time bucket.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Bucket start.
    pub time: DateTime<Utc>,
    /// The arm.
    pub arm: String,
    /// Predictions shown.
    pub predictions: u64,
    /// Median latency, ms (within 1%).
    pub p50_latency_ms: Option<f64>,
}

/// Shown predictions and median latency per arm per bucket, oldest first, from the store's
/// [`crate::store::EventStore::timeline_rows`].
pub fn timeline(rows: &[TimelineRow]) -> Vec<TimelinePoint> {
    rows.iter()
        .map(|row| TimelinePoint {
            time: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(row.minute),
            arm: row.arm.clone(),
            predictions: row.predictions,
            p50_latency_ms: sketch::quantile(&row.latency, 0.5),
        })
        .collect()
}

//! Predictions and latency per arm over time, for the dashboard's charts.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;

use super::stats;
use crate::events::{Event, EventKind};

/// One arm's counts in one time bucket.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Bucket start.
    pub time: DateTime<Utc>,
    /// The arm.
    pub arm: String,
    /// Predictions shown.
    pub predictions: u64,
    /// Median latency, ms.
    pub p50_latency_ms: Option<f64>,
}

/// Shown predictions per arm per `bucket` of time, oldest first.
pub fn timeline(events: &[Event], bucket: TimeDelta) -> Vec<TimelinePoint> {
    let mut groups: BTreeMap<(DateTime<Utc>, String), Vec<f64>> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.kind == EventKind::Prediction && e.fields.shadow != Some(true))
    {
        let Some(arm) = &event.fields.arm else { continue };
        let start = event.time.duration_trunc(bucket).unwrap_or(event.time);
        groups
            .entry((start, arm.clone()))
            .or_default()
            .push(event.fields.latency_ms.unwrap_or(f64::NAN));
    }
    groups
        .into_iter()
        .map(|((time, arm), mut latencies)| {
            let predictions = latencies.len() as u64;
            latencies.retain(|l| l.is_finite());
            latencies.sort_by(f64::total_cmp);
            TimelinePoint {
                time,
                arm,
                predictions,
                p50_latency_ms: stats::quantile(&latencies, 0.5),
            }
        })
        .collect()
}

//! Each report from a store: the sums it needs, read with one or three aggregate queries, then
//! the report's pure function. The HTTP handlers, the CLI and the watchdog all go through here.

use anyhow::Result;
use chrono::{DateTime, Utc};
use wasm_predict_manifest::Manifest;

use super::threshold::Positive;
use super::{ab, drift, now_test, review, timeline};
use crate::experiment::{Bundles, Experiment};
use crate::rollup::minute_of;
use crate::store::EventStore;

/// Most points per arm the timeline answers: a longer span gets wider buckets.
pub const MAX_TIMELINE_POINTS: i64 = 1440;
/// Spans longer than this (minutes) get whole-hour buckets.
pub const HOURLY_PAST: i64 = 24 * 60;
/// Most review items answered by default.
pub const DEFAULT_REVIEW_LIMIT: usize = 1000;

fn minute(since: Option<DateTime<Utc>>) -> Option<i64> {
    since.as_ref().map(minute_of)
}

/// The A/B report of `experiment` over events from `since` (to the minute).
pub async fn ab<S: EventStore>(
    store: &S,
    experiment: &Experiment,
    bundles: &Bundles,
    since: Option<DateTime<Utc>>,
) -> Result<ab::AbReport> {
    let totals = store.ab_totals(&experiment.id, minute(since)).await?;
    let positive_of = |model: &str| {
        let (name, version) = model.split_once('@')?;
        Positive::of(bundles.cached(name, version)?.as_ref())
    };
    Ok(ab::ab_report(experiment, &totals, &positive_of))
}

/// The now-test of `manifest`'s model on outcomes from `since` (to the minute).
pub async fn now_test<S: EventStore>(
    store: &S,
    experiment: &Experiment,
    manifest: &Manifest,
    since: Option<DateTime<Utc>>,
    min_outcomes: u64,
) -> Result<now_test::NowTest> {
    let rows = store.arm_rows(&experiment.id, minute(since)).await?;
    let confusion = store.confusion_rows(&experiment.id, minute(since)).await?;
    Ok(now_test::now_test(manifest, &rows, &confusion, min_outcomes))
}

/// The drift report of `manifest`'s model over predictions from the hour holding `since`.
pub async fn drift<S: EventStore>(
    store: &S,
    experiment: &Experiment,
    manifest: &Manifest,
    since: Option<DateTime<Utc>>,
    threshold: f64,
) -> Result<drift::DriftReport> {
    let model = format!("{}@{}", manifest.name, manifest.version);
    let rows = store.drift_rows(&experiment.id, &model, minute(since)).await?;
    Ok(drift::drift_report(manifest, &rows, threshold))
}

/// The timeline from `since` in buckets of `width` minutes, widened so that no arm has more
/// than [`MAX_TIMELINE_POINTS`] points (past an hour, or for spans past [`HOURLY_PAST`], to whole
/// hours, read from hourly rows).
pub async fn timeline<S: EventStore>(
    store: &S,
    experiment: &Experiment,
    since: Option<DateTime<Utc>>,
    width: i64,
) -> Result<Vec<timeline::TimelinePoint>> {
    let now = minute_of(&Utc::now());
    let first = match minute(since) {
        Some(from) => Some(from),
        None => store.first_minute(&experiment.id).await?,
    };
    let span = first.map_or(0, |from| (now - from).max(0));
    let mut width = width.max(1).max((span + MAX_TIMELINE_POINTS - 1) / MAX_TIMELINE_POINTS);
    // Past a day, minute rows of latency buckets are millions: whole hours read the hourly rows.
    if width > 60 || span > HOURLY_PAST {
        width = (width + 59) / 60 * 60;
    }
    let rows = store.timeline_rows(&experiment.id, minute(since), width).await?;
    Ok(timeline::timeline(&rows))
}

/// The newest `limit` review items from `since`.
pub async fn review<S: EventStore>(
    store: &S,
    experiment: &Experiment,
    since: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<review::ReviewItem>> {
    let rows = store.review_rows(&experiment.id, since, limit).await?;
    Ok(review::review_queue(&rows))
}

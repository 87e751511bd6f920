//! Where events and alerts are kept: one trait, two backends. SQLite in a local file is the
//! embedded default; PostgreSQL serves several stateless collectors behind a load balancer.
//! Both keep each event id once, and answer only after a durable commit.

mod migrations;
pub mod postgres;
mod rollup_sql;
pub mod sqlite;

use std::future::Future;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Event, EventKind};
use crate::rollup::{AbTotals, ArmRow, ConfusionRow, DriftRows, TimelineRow};

/// An event to store, with its drift observations ([`crate::rollup::drift::observations`],
/// empty when its model's manifest is unknown).
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The validated event.
    pub event: Event,
    /// `(series, bin)` pairs it adds to its model's drift counts.
    pub drift: Vec<(i32, i32)>,
}

/// A review event and whether an outcome came back for its prediction.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    /// The review event.
    pub event: Event,
    /// Whether an outcome names its prediction.
    pub labelled: bool,
}

/// An experiment as the stored events know it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredExperiment {
    /// Its id.
    pub id: String,
    /// The models (`name@version`) that served its predictions.
    pub models: Vec<String>,
    /// Its first minute with events (minutes since the epoch).
    pub first_minute: i64,
    /// Its last.
    pub last_minute: i64,
}

/// Groups [`rollup_sql::EXPERIMENTS`] rows `(experiment, model, first, last)`, ordered by
/// experiment, into experiments.
fn stored_experiments(rows: Vec<(String, String, i64, i64)>) -> Vec<StoredExperiment> {
    let mut out: Vec<StoredExperiment> = Vec::new();
    for (id, model, first, last) in rows {
        match out.last_mut() {
            Some(e) if e.id == id => {
                e.first_minute = e.first_minute.min(first);
                e.last_minute = e.last_minute.max(last);
            }
            _ => out.push(StoredExperiment {
                id,
                models: Vec::new(),
                first_minute: first,
                last_minute: last,
            }),
        }
        if let Some(e) = out.last_mut() {
            if !model.is_empty() {
                e.models.push(model);
            }
        }
    }
    out
}

/// The drift observations of an event, for a rebuild of the rollups.
pub type DriftOf = Box<dyn Fn(&Event) -> Vec<(i32, i32)> + Send + Sync>;

/// The schema version a store is at once its migrations are applied.
pub const SCHEMA_VERSION: i64 = migrations::MIGRATIONS[migrations::MIGRATIONS.len() - 1].version;

/// The beginning of time for windows without a start.
pub fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// Which events a report reads.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this experiment's events.
    pub experiment: Option<String>,
    /// Only these kinds (all when empty).
    pub kinds: Vec<EventKind>,
    /// Only events made at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, the most recent first when set.
    pub limit: Option<usize>,
}

/// An alarm the collector raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// When it was raised.
    pub time: DateTime<Utc>,
    /// What raised it: `now-test`, `drift`, `srm`.
    pub kind: String,
    /// The experiment or model it is about.
    pub subject: String,
    /// A sentence for a human.
    pub message: String,
    /// The report behind it.
    pub details: serde_json::Value,
}

/// The storage backends' common face.
pub trait EventStore: Send + Sync + 'static {
    /// Stores the events and their contributions to the rollups in one durable transaction; per
    /// event, true when it was new and false when its id was already stored (and so not counted
    /// again).
    fn insert(&self, events: Vec<Incoming>) -> impl Future<Output = Result<Vec<bool>>> + Send;

    /// The stored events matching `query`, oldest first.
    fn events(&self, query: EventQuery) -> impl Future<Output = Result<Vec<Event>>> + Send;

    /// Joins the stored outcomes left waiting whose prediction is stored too: on PostgreSQL two
    /// concurrent transactions can store an outcome and its prediction without either seeing the
    /// other; SQLite commits one writer at a time and leaves none. Looks only at outcomes received
    /// since the last complete pass (less a margin), so it costs in proportion to the outcomes
    /// received since. Reads do not run it: `serve` runs it once before it answers (a store
    /// filled while nothing read it does not make its first report wait) and then every
    /// [`crate::serve::SETTLE_EVERY`] beside the requests, and the CLI's `report` before it
    /// reads. Returns how many were joined.
    fn settle_waiting(&self) -> impl Future<Output = Result<u64>> + Send;

    /// The counts and sums of `experiment` per arm, model and in-experiment flag, from the minute
    /// `since` (all when `None`): what the now-test reads.
    fn arm_rows(&self, experiment: &str, since: Option<i64>) -> impl Future<Output = Result<Vec<ArmRow>>> + Send;

    /// Predicted against outcome labels of `experiment` per arm and model, from the hour holding
    /// the minute `since`, ordered as [`crate::rollup::sort_confusion`] orders them.
    fn confusion_rows(
        &self,
        experiment: &str,
        since: Option<i64>,
    ) -> impl Future<Output = Result<Vec<ConfusionRow>>> + Send;

    /// The A/B sums of `experiment` from the minute `since` (all when `None`): [`Self::arm_rows`],
    /// latency buckets, distinct clients and [`Self::confusion_rows`].
    fn ab_totals(&self, experiment: &str, since: Option<i64>) -> impl Future<Output = Result<AbTotals>> + Send;

    /// The drift counts of `model` (`name@version`) in `experiment`, from the hour holding the
    /// minute `since`.
    fn drift_rows(
        &self,
        experiment: &str,
        model: &str,
        since: Option<i64>,
    ) -> impl Future<Output = Result<DriftRows>> + Send;

    /// Shown predictions and latency per arm in buckets of `width` minutes from `since`.
    fn timeline_rows(
        &self,
        experiment: &str,
        since: Option<i64>,
        width: i64,
    ) -> impl Future<Output = Result<Vec<TimelineRow>>> + Send;

    /// Every experiment with stored counts, with its models and the minutes they span.
    fn experiments(&self) -> impl Future<Output = Result<Vec<StoredExperiment>>> + Send;

    /// The first minute `experiment` has counts for.
    fn first_minute(&self, experiment: &str) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// The newest `limit` review events of `experiment` from `since`, newest first.
    fn review_rows(
        &self,
        experiment: &str,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReviewRow>>> + Send;

    /// Whether the rollups must be rebuilt (events were stored before they existed).
    fn rollups_stale(&self) -> impl Future<Output = Result<bool>> + Send;

    /// Recomputes every rollup from the stored events in one transaction (ingest waits for it);
    /// returns how many events were read.
    fn rebuild_rollups(&self, drift: DriftOf) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes every event made before the hour holding `before` ([`crate::rollup::purge_cut`])
    /// and the rollup rows of those hours; kept outcomes whose prediction goes lose their join.
    /// One transaction; returns how many events were deleted.
    fn purge_before(&self, before: DateTime<Utc>) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes every event of the client `client` and subtracts what they contributed to the
    /// rollups (`drift` as at ingest); one transaction; returns how many events were deleted.
    fn purge_client(&self, client: &str, drift: DriftOf) -> impl Future<Output = Result<u64>> + Send;

    /// How many events are stored.
    fn count(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Keeps an alert.
    fn record_alert(&self, alert: Alert) -> impl Future<Output = Result<()>> + Send;

    /// The most recent alerts, newest first.
    fn alerts(&self, limit: usize) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// The schema version the database is at.
    fn schema_version(&self) -> impl Future<Output = Result<i64>> + Send;
}

/// Stored events are kept as the JSON the shell sent (normalised); reading one back validates it
/// again, so a report never sees an event the ingest would refuse.
fn event_from_json(text: &str) -> Result<Event> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    crate::events::validate_event(value).map_err(|e| anyhow::anyhow!("stored event no longer valid: {e}"))
}

//! Where events and alerts are kept: one trait, two backends. SQLite in a local file is the
//! embedded default; PostgreSQL serves several stateless collectors behind a load balancer.
//! Both keep each event id once, and answer only after a durable commit.

mod migrations;
pub mod postgres;
pub mod sqlite;

use std::future::Future;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Event, EventKind};

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
    /// Stores the events in one durable transaction; per event, true when it was new and false
    /// when its id was already stored.
    fn insert(&self, events: Vec<Event>) -> impl Future<Output = Result<Vec<bool>>> + Send;

    /// The stored events matching `query`, oldest first.
    fn events(&self, query: EventQuery) -> impl Future<Output = Result<Vec<Event>>> + Send;

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

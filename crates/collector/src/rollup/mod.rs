//! Rollups: the small tables the reports read instead of the events. Each new event adds its
//! contribution in the transaction that stores it; the events stay the source of truth, and
//! `wasm-predict rollups rebuild` recomputes the rollups from them. This module says what an
//! event contributes; the stores only add the sums up (SQL) and the reports only read them.
//!
//! Grains: per experiment, arm, model and minute for counts, sums and latency buckets; per
//! experiment, model and hour for drift bins; per experiment, arm and client for distinct clients
//! (with the minute last seen, so a window ending now counts exactly).

pub mod drift;
pub mod sketch;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Event, EventKind};
use crate::reports::label_of_actual;

/// Whole minutes since the Unix epoch.
pub fn minute_of(time: &DateTime<Utc>) -> i64 {
    time.timestamp().div_euclid(60)
}

/// The first instant of `minute` (minutes since the epoch).
pub fn start_of_minute(minute: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(minute.saturating_mul(60), 0).unwrap_or_default()
}

/// The hour (in minutes since the epoch, a multiple of 60) holding `minute`.
pub fn hour_of(minute: i64) -> i64 {
    minute - minute.rem_euclid(60)
}

/// Additive counts and sums of one arm, model and minute (or of any sum of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Exposure events naming the arm.
    pub exposures: u64,
    /// Shown (not shadow) predictions the arm served.
    pub predictions: u64,
    /// Of which failed.
    pub errors: u64,
    /// Times the arm was refused and replaced.
    pub fallbacks: u64,
    /// Predictions with a confidence.
    pub confidence_n: u64,
    /// Sum of their confidences.
    pub confidence_sum: f64,
    /// Outcomes joined to a classification.
    pub labelled: u64,
    /// Of which the label was right.
    pub correct: u64,
    /// Outcomes joined to a regression (a number against a number).
    pub numeric_n: u64,
    /// Sum of |predicted − actual|.
    pub abs_sum: f64,
    /// Sum of (predicted − actual)².
    pub sq_sum: f64,
    /// Sum of the actual values.
    pub truth_sum: f64,
    /// Sum of their squares.
    pub truth_sq: f64,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counts) {
        self.exposures += other.exposures;
        self.predictions += other.predictions;
        self.errors += other.errors;
        self.fallbacks += other.fallbacks;
        self.confidence_n += other.confidence_n;
        self.confidence_sum += other.confidence_sum;
        self.labelled += other.labelled;
        self.correct += other.correct;
        self.numeric_n += other.numeric_n;
        self.abs_sum += other.abs_sum;
        self.sq_sum += other.sq_sum;
        self.truth_sum += other.truth_sum;
        self.truth_sq += other.truth_sq;
    }
}

/// Whose counts: an experiment's arm, as served by one model (`""` for events that name no
/// model: exposures, fallbacks), inside the experiment or not (kill switch, coverage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArmKey {
    /// Experiment id.
    pub experiment: String,
    /// Arm.
    pub arm: String,
    /// `name@version`, or empty.
    pub model: String,
    /// Whether the client was in the experiment.
    pub in_experiment: bool,
}

/// Whose latency bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LatencyKey {
    /// Experiment id.
    pub experiment: String,
    /// Arm.
    pub arm: String,
    /// Whether the client was in the experiment.
    pub in_experiment: bool,
    /// [`sketch::bucket_of`] the latency.
    pub bucket: i32,
}

/// Whose drift bin: a model's series ([`drift`]'s series numbers) in an experiment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriftKey {
    /// Experiment id.
    pub experiment: String,
    /// `name@version`.
    pub model: String,
    /// A feature's index, or one of [`drift`]'s negative series.
    pub series: i32,
    /// The bin, or [`drift::MISSING`].
    pub bin: i32,
}

/// A client seen in an arm (inside the experiment).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientKey {
    /// Experiment id.
    pub experiment: String,
    /// Arm.
    pub arm: String,
    /// The anonymous client id.
    pub client: String,
}

/// Increments to add to the rollups, summed in memory first so that a commit writes each row
/// once; ordered, so that concurrent writers take row locks in one order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// By key and minute.
    pub arms: BTreeMap<(ArmKey, i64), Counts>,
    /// By key and minute.
    pub latency: BTreeMap<(LatencyKey, i64), u64>,
    /// By key and hour: what long windows read (a minute's buckets are as many as its events).
    pub latency_hours: BTreeMap<(LatencyKey, i64), u64>,
    /// The last minute each client was seen.
    pub clients: BTreeMap<ClientKey, i64>,
    /// By key and hour.
    pub drift: BTreeMap<(DriftKey, i64), u64>,
    /// Outcomes joined to a classification, by arm key, hour, predicted label and actual label.
    pub confusion: BTreeMap<(ArmKey, i64, String, String), u64>,
}

fn model_name(event: &Event) -> String {
    event
        .fields
        .model
        .as_ref()
        .map(|m| format!("{}@{}", m.name, m.version))
        .unwrap_or_default()
}

/// Whether `event` is a prediction shown to the user (not a shadow one).
pub fn is_shown_prediction(event: &Event) -> bool {
    event.kind == EventKind::Prediction && event.fields.shadow != Some(true)
}

impl Delta {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.arms.is_empty()
            && self.latency.is_empty()
            && self.latency_hours.is_empty()
            && self.clients.is_empty()
            && self.drift.is_empty()
            && self.confusion.is_empty()
    }

    fn arm(&mut self, event: &Event, arm: &str, model: String, in_experiment: bool) -> &mut Counts {
        let key = ArmKey {
            experiment: event.experiment.clone(),
            arm: arm.to_string(),
            model,
            in_experiment,
        };
        self.arms.entry((key, minute_of(&event.time))).or_default()
    }

    fn client(&mut self, event: &Event, arm: &str) {
        if !event.in_experiment {
            return;
        }
        let key = ClientKey {
            experiment: event.experiment.clone(),
            arm: arm.to_string(),
            client: event.client_id.clone(),
        };
        let minute = minute_of(&event.time);
        let last = self.clients.entry(key).or_insert(minute);
        *last = (*last).max(minute);
    }

    /// Adds `other` into `self`, its keys moved rather than cloned.
    pub fn merge(&mut self, other: Delta) {
        fn add<K: Ord>(mine: &mut BTreeMap<K, u64>, theirs: BTreeMap<K, u64>) {
            for (key, n) in theirs {
                *mine.entry(key).or_default() += n;
            }
        }
        for (key, counts) in other.arms {
            self.arms.entry(key).or_default().add(&counts);
        }
        add(&mut self.latency, other.latency);
        add(&mut self.latency_hours, other.latency_hours);
        add(&mut self.drift, other.drift);
        add(&mut self.confusion, other.confusion);
        for (key, minute) in other.clients {
            let last = self.clients.entry(key).or_insert(minute);
            *last = (*last).max(minute);
        }
    }

    /// Adds what a newly stored event contributes by itself (an outcome's join is
    /// [`Delta::add_join`]); `drift` are its drift observations ([`drift::observations`]).
    pub fn add_event(&mut self, event: &Event, drift: &[(i32, i32)]) {
        match event.kind {
            EventKind::Exposure => {
                if let Some(arm) = &event.fields.arm {
                    self.arm(event, arm, String::new(), event.in_experiment).exposures += 1;
                    self.client(event, arm);
                }
            }
            EventKind::Fallback => {
                if let Some(arm) = &event.fields.from_arm {
                    self.arm(event, arm, String::new(), event.in_experiment).fallbacks += 1;
                }
            }
            EventKind::Prediction if is_shown_prediction(event) => {
                if let Some(arm) = &event.fields.arm {
                    let counts = self.arm(event, arm, model_name(event), event.in_experiment);
                    counts.predictions += 1;
                    counts.errors += u64::from(event.fields.error.is_some());
                    if let Some(confidence) = event.fields.output.as_ref().and_then(|o| o.confidence) {
                        counts.confidence_n += 1;
                        counts.confidence_sum += confidence;
                    }
                    if let Some(bucket) = event.fields.latency_ms.and_then(sketch::bucket_of) {
                        let key = LatencyKey {
                            experiment: event.experiment.clone(),
                            arm: arm.clone(),
                            in_experiment: event.in_experiment,
                            bucket,
                        };
                        let minute = minute_of(&event.time);
                        *self.latency_hours.entry((key.clone(), hour_of(minute))).or_default() += 1;
                        *self.latency.entry((key, minute)).or_default() += 1;
                    }
                    self.client(event, arm);
                }
            }
            _ => {}
        }
        if !drift.is_empty() {
            let model = model_name(event);
            let hour = hour_of(minute_of(&event.time));
            for &(series, bin) in drift {
                let key = DriftKey {
                    experiment: event.experiment.clone(),
                    model: model.clone(),
                    series,
                    bin,
                };
                *self.drift.entry((key, hour)).or_default() += 1;
            }
        }
    }

    /// Adds an outcome joined to the prediction it reports on, at the outcome's minute, under the
    /// prediction's arm and model. Outcomes of shadow predictions, of predictions in another
    /// experiment or without an answer, and without a value, add nothing.
    pub fn add_join(&mut self, outcome: &Event, prediction: &Event) {
        if !is_shown_prediction(prediction) || outcome.experiment != prediction.experiment {
            return;
        }
        let (Some(output), Some(actual)) = (&prediction.fields.output, &outcome.fields.actual) else {
            return;
        };
        let key = ArmKey {
            experiment: prediction.experiment.clone(),
            arm: prediction.fields.arm.clone().unwrap_or_default(),
            model: model_name(prediction),
            in_experiment: prediction.in_experiment && outcome.in_experiment,
        };
        let counts = self.arms.entry((key.clone(), minute_of(&outcome.time))).or_default();
        match (&output.label, output.value, actual.as_f64()) {
            (Some(label), _, _) => {
                let actual = label_of_actual(actual);
                counts.labelled += 1;
                counts.correct += u64::from(actual.as_deref() == Some(label.as_str()));
                if let Some(actual) = actual.filter(|a| a.len() <= MAX_LABEL && label.len() <= MAX_LABEL) {
                    let hour = hour_of(minute_of(&outcome.time));
                    *self.confusion.entry((key, hour, label.clone(), actual)).or_default() += 1;
                }
            }
            (None, Some(value), Some(truth)) => {
                counts.numeric_n += 1;
                counts.abs_sum += (value - truth).abs();
                counts.sq_sum += (value - truth).powi(2);
                counts.truth_sum += truth;
                counts.truth_sq += truth * truth;
            }
            _ => {}
        }
    }
}

/// The longest label the label rollup keeps (longer ones count in accuracy only).
pub const MAX_LABEL: usize = 64;

/// How often an arm's model predicted a label when the outcome was another, summed over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionRow {
    /// The arm, model and flag.
    pub key: ArmKey,
    /// The predicted label.
    pub predicted: String,
    /// The outcome's label.
    pub actual: String,
    /// How many outcomes.
    pub n: u64,
}

/// One arm's summed counts, as a store answers them.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRow {
    /// The key (its experiment is the one asked for).
    pub key: ArmKey,
    /// Summed over the window's minutes.
    pub counts: Counts,
}

/// Shown predictions' latency counts of one arm, summed over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    /// Arm.
    pub arm: String,
    /// Inside the experiment or not.
    pub in_experiment: bool,
    /// Bucket.
    pub bucket: i32,
    /// Count.
    pub n: u64,
}

/// One time bucket of one arm, for the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// The bucket's first minute since the epoch.
    pub minute: i64,
    /// Arm.
    pub arm: String,
    /// Shown predictions.
    pub predictions: u64,
    /// Their latency buckets and counts.
    pub latency: Vec<(i32, u64)>,
}

/// What the A/B report reads: counts per arm and model, latency buckets, distinct clients.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AbTotals {
    /// Per arm, model and in-experiment flag.
    pub arms: Vec<ArmRow>,
    /// Per arm.
    pub latency: Vec<LatencyRow>,
    /// Distinct clients per arm (inside the experiment).
    pub clients: Vec<(String, u64)>,
    /// Predicted against actual labels per arm and model, ordered by key and labels.
    pub confusion: Vec<ConfusionRow>,
}

/// Orders confusion rows as [`AbTotals::confusion`] says.
pub fn sort_confusion(rows: &mut [ConfusionRow]) {
    rows.sort_by(|a, b| (&a.key, &a.predicted, &a.actual).cmp(&(&b.key, &b.predicted, &b.actual)));
}

/// The drift counts of one model: `(series, bin, n)`.
pub type DriftRows = Vec<(i32, i32, u64)>;

/// The totals a store would answer, from a [`Delta`] in memory (tests, and a check of the stores).
impl Delta {
    /// The [`ArmRow`]s of `experiment` since `since` (a minute).
    pub fn arm_rows(&self, experiment: &str, since: Option<i64>) -> Vec<ArmRow> {
        let from = since.unwrap_or(i64::MIN);
        let mut arms: BTreeMap<ArmKey, Counts> = BTreeMap::new();
        for ((key, minute), counts) in &self.arms {
            if key.experiment == experiment && *minute >= from {
                arms.entry(key.clone()).or_default().add(counts);
            }
        }
        arms.into_iter().map(|(key, counts)| ArmRow { key, counts }).collect()
    }

    /// [`AbTotals`] of `experiment` since `since` (a minute; latency from the hour holding it).
    pub fn ab_totals(&self, experiment: &str, since: Option<i64>) -> AbTotals {
        let from = since.unwrap_or(i64::MIN);
        let from_hour = since.map_or(i64::MIN, hour_of);
        let mut latency: BTreeMap<(String, bool, i32), u64> = BTreeMap::new();
        for ((key, hour), n) in &self.latency_hours {
            if key.experiment == experiment && *hour >= from_hour {
                *latency
                    .entry((key.arm.clone(), key.in_experiment, key.bucket))
                    .or_default() += n;
            }
        }
        let mut clients: BTreeMap<String, u64> = BTreeMap::new();
        for (key, last) in &self.clients {
            if key.experiment == experiment && *last >= from {
                *clients.entry(key.arm.clone()).or_default() += 1;
            }
        }
        let mut confusion: BTreeMap<(ArmKey, String, String), u64> = BTreeMap::new();
        for ((key, hour, predicted, actual), n) in &self.confusion {
            if key.experiment == experiment && *hour >= from_hour {
                *confusion
                    .entry((key.clone(), predicted.clone(), actual.clone()))
                    .or_default() += n;
            }
        }
        AbTotals {
            confusion: confusion
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|((key, predicted, actual), n)| ConfusionRow {
                    key,
                    predicted,
                    actual,
                    n,
                })
                .collect(),
            arms: self.arm_rows(experiment, since),
            latency: latency
                .into_iter()
                .map(|((arm, in_experiment, bucket), n)| LatencyRow {
                    arm,
                    in_experiment,
                    bucket,
                    n,
                })
                .collect(),
            clients: clients.into_iter().collect(),
        }
    }

    /// The drift counts of `model` in `experiment` from the hour holding `since` (a minute).
    pub fn drift_rows(&self, experiment: &str, model: &str, since: Option<i64>) -> DriftRows {
        let from = since.map_or(i64::MIN, hour_of);
        let mut rows: BTreeMap<(i32, i32), u64> = BTreeMap::new();
        for ((key, hour), n) in &self.drift {
            if key.experiment == experiment && key.model == model && *hour >= from {
                *rows.entry((key.series, key.bin)).or_default() += n;
            }
        }
        rows.into_iter().map(|((series, bin), n)| (series, bin, n)).collect()
    }

    /// Timeline rows of `experiment` since `since`, in buckets of `width` minutes (latency from
    /// the hourly rows when the buckets are whole hours, from the hour holding `since`).
    pub fn timeline_rows(&self, experiment: &str, since: Option<i64>, width: i64) -> Vec<TimelineRow> {
        let from = since.unwrap_or(i64::MIN);
        let start = |minute: i64| minute - minute.rem_euclid(width.max(1));
        let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for ((key, minute), c) in &self.arms {
            if key.experiment == experiment && *minute >= from && c.predictions > 0 {
                *counts.entry((start(*minute), key.arm.clone())).or_default() += c.predictions;
            }
        }
        let mut latency: BTreeMap<(i64, String, i32), u64> = BTreeMap::new();
        let (table, from) = if hourly(width) {
            (&self.latency_hours, since.map_or(i64::MIN, hour_of))
        } else {
            (&self.latency, from)
        };
        for ((key, minute), n) in table {
            if key.experiment == experiment && *minute >= from {
                *latency
                    .entry((start(*minute), key.arm.clone(), key.bucket))
                    .or_default() += n;
            }
        }
        timeline_of(
            counts.into_iter().map(|((m, a), n)| (m, a, n)).collect(),
            latency.into_iter().map(|((m, a, b), n)| (m, a, b, n)).collect(),
        )
    }
}

/// Whether timeline buckets of `width` minutes read the hourly latency rows (whole hours).
pub fn hourly(width: i64) -> bool {
    width >= 60 && width % 60 == 0
}

/// Timeline rows, oldest first, from predictions per (bucket start, arm) and latency counts per
/// (bucket start, arm, latency bucket), as the stores' queries answer them.
pub fn timeline_of(counts: Vec<(i64, String, u64)>, latency: Vec<(i64, String, i32, u64)>) -> Vec<TimelineRow> {
    let mut rows: BTreeMap<(i64, String), TimelineRow> = BTreeMap::new();
    for (minute, arm, predictions) in counts {
        rows.insert(
            (minute, arm.clone()),
            TimelineRow {
                minute,
                arm,
                predictions,
                latency: Vec::new(),
            },
        );
    }
    for (minute, arm, bucket, n) in latency {
        if let Some(row) = rows.get_mut(&(minute, arm)) {
            row.latency.push((bucket, n));
        }
    }
    // The stores may answer a bucket's latency in several rows (one per minute and flag).
    for row in rows.values_mut() {
        row.latency.sort_unstable_by_key(|(bucket, _)| *bucket);
        row.latency.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        row.latency.retain(|(_, n)| *n != 0);
    }
    rows.into_values().collect()
}

/// Everything `events` (stored in this order) contribute, joins included: what the stores'
/// rollups must hold after storing them. `drift` gives each event's drift observations.
pub fn delta_of(events: &[Event], drift: impl Fn(&Event) -> Vec<(i32, i32)>) -> Delta {
    let mut delta = Delta::default();
    let predictions: std::collections::HashMap<&str, &Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Prediction)
        .map(|e| (e.id.as_str(), e))
        .collect();
    for event in events {
        delta.add_event(event, &drift(event));
        if event.kind == EventKind::Outcome {
            if let Some(prediction) = event.fields.prediction_id.as_deref().and_then(|id| predictions.get(id)) {
                delta.add_join(event, prediction);
            }
        }
    }
    delta
}

/// What one client's stored events contributed, joins included, for a purge to subtract: `own`
/// are the client's events, each with whether it is an outcome joined to its prediction;
/// `predictions` the predictions its joined outcomes name (any client's); `others` the joined
/// outcomes of other clients naming its predictions. The clients rollup is left out: a purge
/// deletes the client's rows instead.
pub fn client_contribution(
    own: &[(Event, bool)],
    predictions: &[Event],
    others: &[Event],
    drift: impl Fn(&Event) -> Vec<(i32, i32)>,
) -> Delta {
    let mut delta = Delta::default();
    let find = |id: &str| {
        own.iter()
            .map(|(e, _)| e)
            .chain(predictions)
            .find(|e| e.kind == EventKind::Prediction && e.id == id)
    };
    for (event, joined) in own {
        delta.add_event(event, &drift(event));
        if *joined && event.kind == EventKind::Outcome {
            if let Some(prediction) = event.fields.prediction_id.as_deref().and_then(find) {
                delta.add_join(event, prediction);
            }
        }
    }
    for outcome in others {
        if let Some(prediction) = outcome.fields.prediction_id.as_deref().and_then(find) {
            delta.add_join(outcome, prediction);
        }
    }
    delta.clients.clear();
    delta
}

/// The first minute a purge of events made before `before` keeps: rounded down to the hour, so
/// that the hourly rollup rows it deletes hold only purged events.
pub fn purge_cut(before: &DateTime<Utc>) -> i64 {
    hour_of(minute_of(before))
}

/// Recomputes the rollups of `store` from its events, with the drift bins of the manifests in
/// `bundles`; returns how many events were read.
pub async fn rebuild<S: crate::store::EventStore>(
    store: &S,
    bundles: &crate::experiment::Bundles,
) -> anyhow::Result<u64> {
    let bundles = bundles.clone();
    store
        .rebuild_rollups(Box::new(move |event| drift::observations_in(&bundles, event)))
        .await
}

/// Rebuilds the rollups if the store says they are stale (events stored by a collector older
/// than the rollups), saying so on stderr.
pub async fn rebuild_if_stale<S: crate::store::EventStore>(
    store: &S,
    bundles: &crate::experiment::Bundles,
) -> anyhow::Result<()> {
    if store.rollups_stale().await? {
        eprintln!("the report tables predate some stored events: rebuilding them from the events...");
        let started = std::time::Instant::now();
        let read = rebuild(store, bundles).await?;
        eprintln!("rebuilt from {read} events in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

//! Reports over the stored events: the A/B verdict, drift against the training data, the
//! now-test of the live model, and the review queue. Pure functions of events, configs and
//! manifests; the HTTP and CLI layers only fetch and print.

pub mod ab;
pub mod drift;
pub mod now_test;
pub mod review;
pub mod stats;
pub mod timeline;

use std::collections::HashMap;

use crate::events::{Event, EventKind, Output};

/// An outcome joined to the shown prediction it reports on.
pub struct JoinedOutcome<'a> {
    /// The prediction event.
    pub prediction: &'a Event,
    /// What the prediction said.
    pub output: &'a Output,
    /// What turned out to be true.
    pub actual: &'a serde_json::Value,
}

/// The outcomes among `events` joined to their predictions in `predictions` (see
/// [`shown_predictions`]); outcomes of unknown or shadow predictions, and outcomes or
/// predictions without a value, are left out.
pub fn joined_outcomes<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    predictions: &HashMap<&'a str, &'a Event>,
) -> Vec<JoinedOutcome<'a>> {
    events
        .into_iter()
        .filter(|e| e.kind == EventKind::Outcome)
        .filter_map(|outcome| {
            let prediction = *predictions.get(outcome.fields.prediction_id.as_deref()?)?;
            Some(JoinedOutcome {
                prediction,
                output: prediction.fields.output.as_ref()?,
                actual: outcome.fields.actual.as_ref()?,
            })
        })
        .collect()
}

/// Predictions shown to users (not shadow ones), by id, for joining outcomes and reviews.
pub fn shown_predictions<'a>(events: impl IntoIterator<Item = &'a Event>) -> HashMap<&'a str, &'a Event> {
    events
        .into_iter()
        .filter(|e| e.kind == EventKind::Prediction && e.fields.shadow != Some(true))
        .map(|e| (e.id.as_str(), e))
        .collect()
}

/// An outcome's `actual` as a class label.
pub fn label_of_actual(actual: &serde_json::Value) -> Option<String> {
    match actual {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

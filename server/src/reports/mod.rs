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

use crate::events::{Event, EventKind};

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

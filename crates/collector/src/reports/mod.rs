//! Reports over the stored events: the A/B verdict, drift against the training data, the
//! now-test of the live model, and the review queue. Pure functions of the stores' sums
//! ([`crate::rollup`]), configs and manifests, never of all the events, so their cost does not
//! grow with the store; the HTTP and CLI layers only fetch and print.

pub mod ab;
pub mod drift;
pub mod from_store;
pub mod now_test;
pub mod review;
pub mod sequential;
pub mod stats;
pub mod threshold;
pub mod timeline;

/// An outcome's `actual` as a class label.
pub fn label_of_actual(actual: &serde_json::Value) -> Option<String> {
    match actual {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

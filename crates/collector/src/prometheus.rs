//! The collector's own metrics for Prometheus (`GET /metrics`, behind the admin token): one
//! recorder per process, named here so that every counter has one spelling.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Events stored.
pub const ACCEPTED: &str = "wasm_predict_events_accepted_total";
/// Events refused one by one (the rest of their batch stored).
pub const REFUSED: &str = "wasm_predict_events_refused_total";
/// Whole batches refused, by `reason`: `bad_batch` (not the envelope) or `too_large`.
pub const BATCHES_REFUSED: &str = "wasm_predict_batches_refused_total";
/// Events already stored, acknowledged again.
pub const DUPLICATES: &str = "wasm_predict_events_duplicate_total";
/// Requests answered 429, by `limit`: `address` or `client`.
pub const RATE_LIMITED: &str = "wasm_predict_rate_limited_total";
/// Seconds from request to answer, by `route` and `status`.
pub const REQUEST_SECONDS: &str = "wasm_predict_request_seconds";
/// Seconds an ingest waits for its commit.
pub const COMMIT_SECONDS: &str = "wasm_predict_commit_seconds";
/// Ingest requests waiting for their commit.
pub const COMMITS_WAITING: &str = "wasm_predict_commits_waiting";
/// 1 while the now-test of a model (`experiment`, `model`) fails, else 0.
pub const NOW_TEST_FAILING: &str = "wasm_predict_now_test_failing";

/// Latency buckets (seconds) of the two histograms.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use; `None` when another recorder was installed
/// first (then nothing is recorded here).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Records a request's duration.
pub fn request(route: &'static str, status: u16, elapsed: Duration) {
    metrics::histogram!(REQUEST_SECONDS, "route" => route, "status" => status.to_string())
        .record(elapsed.as_secs_f64());
}

//! The watchdog: runs the now-test of every arm's model on a schedule, and when one falls below
//! its manifest's minimum, records an alert, logs it, and posts it to the configured webhook.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::json;

use crate::http::App;
use crate::prometheus;
use crate::reports::from_store;
use crate::reports::now_test::{Verdict, DEFAULT_MIN_OUTCOMES};
use crate::store::{Alert, EventStore};

/// How the watchdog runs.
#[derive(Debug, Clone)]
pub struct Watchdog {
    /// Time between checks.
    pub every: Duration,
    /// How far back outcomes count.
    pub window: TimeDelta,
    /// Where alerts are posted (JSON), if anywhere.
    pub webhook: Option<String>,
}

/// Posts `alert` as JSON to `url`; a failure is logged, never fatal.
pub async fn post_webhook(url: &str, alert: &Alert) {
    let client = reqwest::Client::new();
    match client
        .post(url)
        .timeout(Duration::from_secs(10))
        .json(alert)
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => tracing::info!("alert posted to {url}"),
        Ok(response) => tracing::warn!("alert webhook {url} answered {}", response.status()),
        Err(e) => tracing::warn!("alert webhook {url} failed: {e}"),
    }
}

/// Checks once: returns the alerts raised (a model is alerted again only after it passed).
pub async fn check_once<S: EventStore>(
    app: &App<S>,
    watchdog: &Watchdog,
    failing: &mut HashMap<String, bool>,
) -> Vec<Alert> {
    let mut raised = Vec::new();
    let experiments = match app.experiments.all() {
        Ok((experiments, _)) => experiments,
        Err(e) => {
            tracing::warn!("now-test skipped: {e:#}");
            return raised;
        }
    };
    let since = Some(Utc::now() - watchdog.window);
    let pairs: Vec<(&crate::experiment::Experiment, &crate::experiment::Arm)> = experiments
        .iter()
        .flat_map(|e| e.arms.iter().map(move |a| (e, a)))
        .collect();
    for (experiment, arm) in pairs {
        let Ok((name, version)) = arm.bundle_id() else { continue };
        let manifest = match app.bundles.manifest(name, version) {
            Ok(manifest) => manifest,
            Err(e) => {
                tracing::warn!("now-test of {}: {e:#}", arm.bundle);
                continue;
            }
        };
        let report = match from_store::now_test(&app.store, experiment, &manifest, since, DEFAULT_MIN_OUTCOMES).await {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!("now-test of {}: {e:#}", arm.bundle);
                continue;
            }
        };
        metrics::gauge!(prometheus::NOW_TEST_FAILING, "experiment" => experiment.id.clone(), "model" => report.model.clone())
            .set(if report.verdict == Verdict::Fail { 1.0 } else { 0.0 });
        let was_failing = failing
            .insert(
                format!("{}/{}", experiment.id, report.model),
                report.verdict == Verdict::Fail,
            )
            .unwrap_or(false);
        if report.verdict != Verdict::Fail || was_failing {
            continue;
        }
        let alert = Alert {
            time: Utc::now(),
            kind: "now-test".into(),
            subject: report.model.clone(),
            message: format!(
                "{} is below its minimum: {:?} {:.4} on {} recent outcomes, minimum {}",
                report.model,
                report.metric,
                report.achieved.unwrap_or(f64::NAN),
                report.outcomes,
                report.minimum
            ),
            details: json!(report),
        };
        tracing::error!("ALERT {}", alert.message);
        if let Err(e) = app.store.record_alert(alert.clone()).await {
            tracing::error!("recording the alert failed: {e:#}");
        }
        if let Some(url) = &watchdog.webhook {
            post_webhook(url, &alert).await;
        }
        raised.push(alert);
    }
    raised
}

/// Runs the watchdog until the process ends.
pub async fn run<S: EventStore>(app: Arc<App<S>>, watchdog: Watchdog) {
    let mut failing = HashMap::new();
    let mut ticker = tokio::time::interval(watchdog.every);
    loop {
        ticker.tick().await;
        check_once(&app, &watchdog, &mut failing).await;
    }
}

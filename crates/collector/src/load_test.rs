//! A bounded load generator for the ingest: `clients` concurrent simulated browsers, each posting
//! batches of prediction events as fast as the collector acknowledges them, for `seconds`.
//! It counts only acknowledged events, and can append their ids to a file as they are
//! acknowledged, so a test can check that none was lost (even across a crash of the collector).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use crate::reports::stats::quantile;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The collector's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Concurrent clients.
    pub clients: usize,
    /// How long.
    pub duration: Duration,
    /// Events per request.
    pub batch: usize,
    /// Where to append acknowledged ids, one per line.
    pub acked_file: Option<std::path::PathBuf>,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds run.
    pub seconds: f64,
    /// Requests answered 2xx.
    pub acknowledged_requests: u64,
    /// Events acknowledged.
    pub acknowledged_events: u64,
    /// Acknowledged events per second.
    pub events_per_second: f64,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Requests that failed (connection errors, 5xx).
    pub failed_requests: u64,
    /// Latency of acknowledged requests, ms.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// The default bundle's manifest: the model the generated events say they come from.
const DEFAULT_MANIFEST: &str = include_str!("../../../models/digits-mlp-int8/1.0.0/manifest.json");

fn default_model() -> Value {
    let manifest: Value = serde_json::from_str(DEFAULT_MANIFEST).unwrap_or_default();
    json!({ "name": manifest["name"], "version": manifest["version"], "sha256": manifest["sha256"] })
}

fn event(client: &str, model: &Value) -> Value {
    json!({
        "id": uuid::Uuid::now_v7().hyphenated().to_string(),
        "kind": "prediction",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "clientId": client,
        "experiment": "load-test",
        "inExperiment": true,
        "arm": "int8",
        "assignedArm": "int8",
        "model": model,
        "shadow": false,
        "source": "cache",
        "latencyMs": 0.42,
        "computeMs": 0.01,
        "output": { "label": "3", "confidence": 0.97, "topK": [{ "label": "3", "probability": 0.97 }] },
        "error": null,
        "review": false
    })
}

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    events: u64,
    rate_limited: u64,
    failed: u64,
}

/// Runs the plan.
pub async fn run(plan: LoadPlan) -> Result<LoadResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.clients)
        .timeout(Duration::from_secs(30))
        .build()?;
    let acked = match &plan.acked_file {
        Some(path) => Some(Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("{}", path.display()))?,
        ))),
        None => None,
    };
    let endpoint = format!("{}/v1/events", plan.url.trim_end_matches('/'));
    let start = Instant::now();
    let deadline = start + plan.duration;
    let mut tasks = Vec::new();
    let model = default_model();
    for c in 0..plan.clients {
        let (client, endpoint, acked, model) = (client.clone(), endpoint.clone(), acked.clone(), model.clone());
        let batch = plan.batch;
        tasks.push(tokio::spawn(async move {
            let id = format!("load-client-{c}");
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let events: Vec<Value> = (0..batch).map(|_| event(&id, &model)).collect();
                let body = json!({ "schema": 1, "sentAt": chrono::Utc::now().to_rfc3339(), "events": events });
                let sent = Instant::now();
                match client.post(&endpoint).json(&body).send().await {
                    Ok(response) if response.status().is_success() => {
                        let reply: Value = response.json().await.unwrap_or(Value::Null);
                        let ids: Vec<&str> = ["accepted", "duplicates"]
                            .iter()
                            .flat_map(|k| reply[*k].as_array().into_iter().flatten())
                            .filter_map(Value::as_str)
                            .collect();
                        tally.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        tally.events += ids.len() as u64;
                        if let Some(file) = &acked {
                            if let Ok(mut file) = file.lock() {
                                let _ = file.write_all(format!("{}\n", ids.join("\n")).as_bytes());
                            }
                        }
                    }
                    Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                        tally.rate_limited += 1;
                        let wait = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()?.parse::<f64>().ok())
                            .unwrap_or(1.0);
                        tokio::time::sleep(Duration::from_secs_f64(wait.min(5.0))).await;
                    }
                    Ok(_) | Err(_) => {
                        tally.failed += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await?;
        total.latencies.extend(tally.latencies);
        total.events += tally.events;
        total.rate_limited += tally.rate_limited;
        total.failed += tally.failed;
    }
    let seconds = start.elapsed().as_secs_f64();
    total.latencies.sort_by(f64::total_cmp);
    let q = |p| quantile(&total.latencies, p).unwrap_or(f64::NAN);
    Ok(LoadResult {
        clients: plan.clients,
        seconds,
        acknowledged_requests: total.latencies.len() as u64,
        acknowledged_events: total.events,
        events_per_second: total.events as f64 / seconds,
        rate_limited: total.rate_limited,
        failed_requests: total.failed,
        p50_ms: q(0.5),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
    })
}

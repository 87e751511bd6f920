//! Fills a store with synthetic traffic through the same insert as the ingest (rollups included),
//! without HTTP, to measure the reports at scale (`scripts/scale-bench.sh`): predictions of two
//! arms (one in ten with its 64 inputs), exposures, fallbacks, reviews and outcomes, made in time
//! order over the `DAYS` days up to now as live traffic is, in batches of 500 from `WRITERS`
//! concurrent writers.
//! Usage: cargo run --profile server -p wasm-predict-collector --example fill_store -- DB EVENTS [DAYS] [WRITERS]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use wasm_predict_collector::events::validate_batch;
use wasm_predict_collector::experiment::Bundles;
use wasm_predict_collector::rollup::drift::observations_in;
use wasm_predict_collector::serve::Database;
use wasm_predict_collector::site::Site;
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::{EventStore, Incoming};

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn manifest_sha(model: &str) -> String {
    let text = std::fs::read_to_string(format!("models/{model}/1.0.0/manifest.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One batch of synthetic events, ids from `next`, made around `at` (within a minute), as live
/// traffic arrives.
fn batch(rng: &mut Lcg, next: &mut u64, size: usize, at: chrono::DateTime<Utc>, shas: &[String; 2]) -> Vec<Value> {
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        *next += 1;
        let id = uuid::Uuid::from_u64_pair(0x0190_f0f0_0000_7000, 0x8000_0000_0000_0000 | *next).to_string();
        let time = at - TimeDelta::milliseconds(rng.below(60_000) as i64);
        let stamp = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let client = format!("client-{}", rng.below(200_000));
        let a = rng.below(2) as usize;
        let (arm, model) = [("int8", "digits-mlp-int8"), ("qdq", "digits-mlp-qdq")][a];
        let base = json!({"id": id, "time": stamp, "clientId": client, "experiment": "digits-int8-vs-qdq", "inExperiment": true});
        let mut e = base.clone();
        match rng.below(20) {
            0 => {
                e["kind"] = json!("exposure");
                e["arm"] = json!(arm);
                e["assignedArm"] = json!(arm);
                e["mode"] = json!("split");
            }
            1 => {
                e["kind"] = json!("outcome");
                e["arm"] = json!(arm);
                // An outcome of a prediction made just before (ids are sequential).
                let earlier = next.saturating_sub(1 + rng.below(50));
                e["predictionId"] =
                    json!(
                        uuid::Uuid::from_u64_pair(0x0190_f0f0_0000_7000, 0x8000_0000_0000_0000 | earlier).to_string()
                    );
                e["actual"] = json!(rng.below(10).to_string());
            }
            2 if rng.below(10) == 0 => {
                e["kind"] = json!("fallback");
                e["fromArm"] = json!("qdq");
                e["toArm"] = json!("int8");
                e["reason"] = json!("load-failed");
            }
            _ => {
                let label = rng.below(10).to_string();
                let confidence = 0.5 + rng.below(500) as f64 / 1000.0;
                e["kind"] = json!("prediction");
                e["arm"] = json!(arm);
                e["assignedArm"] = json!(arm);
                e["model"] = json!({"name": model, "version": "1.0.0", "sha256": shas[a]});
                e["shadow"] = json!(false);
                e["source"] = json!("cache");
                e["latencyMs"] = json!(0.2 + rng.below(3000) as f64 / 1000.0);
                e["computeMs"] = json!(0.01);
                e["output"] = json!({"label": label, "confidence": confidence, "topK": [{"label": label, "probability": confidence}]});
                e["review"] = json!(confidence < 0.55);
                if rng.below(10) == 0 {
                    e["inputs"] = json!((0..64).map(|_| rng.below(17)).collect::<Vec<_>>());
                }
            }
        }
        out.push(e);
    }
    out
}

async fn fill<S: EventStore>(store: S, events: u64, days: i64, writers: u64) {
    let store = Arc::new(store);
    let bundles = Bundles::new(Site::folder(".".into()));
    let shas = [manifest_sha("digits-mlp-int8"), manifest_sha("digits-mlp-qdq")];
    let started = Instant::now();
    let per_writer = events / writers;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, bundles, shas) = (Arc::clone(&store), bundles.clone(), shas.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(w + 1);
            let mut next = w << 40;
            let mut done = 0;
            while done < per_writer {
                let size = 500.min(per_writer - done) as usize;
                let elapsed = (days * 86_400_000) as f64 * done as f64 / per_writer as f64;
                let at = Utc::now() - TimeDelta::days(days) + TimeDelta::milliseconds(elapsed as i64);
                let values = batch(&mut rng, &mut next, size, at, &shas);
                let checked =
                    validate_batch(&serde_json::to_vec(&json!({"schema": 1, "events": values})).unwrap()).unwrap();
                let incoming: Vec<Incoming> = checked
                    .events
                    .into_iter()
                    .map(|event| Incoming {
                        drift: observations_in(&bundles, &event),
                        event,
                    })
                    .collect();
                store.insert(incoming).await.unwrap();
                done += size as u64;
                if w == 0 && done % 200_000 < 500 {
                    eprintln!("  {} events, {:.0} s", done * writers, started.elapsed().as_secs_f64());
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"events\": {}, \"seconds\": {seconds:.1}, \"events_per_second\": {:.0}}}",
        per_writer * writers,
        (per_writer * writers) as f64 / seconds
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let db = args.first().expect("usage: fill_store DB EVENTS [DAYS] [WRITERS]");
    let events: u64 = args.get(1).and_then(|a| a.parse().ok()).expect("EVENTS");
    let days: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(7);
    let writers: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(4);
    match Database::parse(db) {
        Database::Sqlite(path) => fill(SqliteStore::open(&path).unwrap(), events, days, writers).await,
        Database::Postgres(url) => {
            fill(
                PostgresStore::connect(&url, writers as usize).await.unwrap(),
                events,
                days,
                writers,
            )
            .await
        }
    }
}

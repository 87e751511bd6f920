//! Valid events, the databases to test against (a fresh SQLite file, and a fresh PostgreSQL
//! database on the throwaway server scripts/postgres.sh starts, its URL in WASM_PREDICT_TEST_PG),
//! and what they store: shared by the collector's in-process tests and the CLI's tests of the real
//! binary (which include this file by path).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use wasm_predict_collector::serve::Database;
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::{EventQuery, EventStore};

/// The admin token the tests' collectors require.
pub const TOKEN: &str = "test-admin-token";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The sha256 a committed bundle's manifest states (version 1.0.0).
pub fn sha256_of(bundle: &str) -> String {
    let path = repo().join(format!("models/{bundle}/1.0.0/manifest.json"));
    let manifest: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    manifest["sha256"].as_str().unwrap().to_string()
}

/// The databases to test against: a fresh SQLite file, and a fresh PostgreSQL database when the
/// test server runs (required when WASM_PREDICT_REQUIRE_PG is set, as in scripts/test.sh).
pub async fn backends(dir: &Path) -> Vec<(&'static str, String)> {
    let mut all = vec![("sqlite", dir.join("events.db").display().to_string())];
    match std::env::var("WASM_PREDICT_TEST_PG") {
        Ok(base) => {
            let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let name = format!("t_{}", uuid::Uuid::now_v7().simple());
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
            let (prefix, _) = base.rsplit_once('/').unwrap();
            all.push(("postgres", format!("{prefix}/{name}")));
        }
        Err(_) if std::env::var_os("WASM_PREDICT_REQUIRE_PG").is_some() => {
            panic!("WASM_PREDICT_REQUIRE_PG is set but WASM_PREDICT_TEST_PG is not: start scripts/postgres.sh")
        }
        Err(_) => eprintln!("WASM_PREDICT_TEST_PG not set: PostgreSQL not tested in this run"),
    }
    all
}

/// Every stored event id of `experiment`.
pub async fn stored_ids(db: &str, experiment: &str) -> HashSet<String> {
    let query = EventQuery {
        experiment: Some(experiment.into()),
        ..EventQuery::default()
    };
    let events = match Database::parse(db) {
        Database::Sqlite(path) => SqliteStore::open(&path).unwrap().events(query).await.unwrap(),
        Database::Postgres(url) => PostgresStore::connect(&url, 2)
            .await
            .unwrap()
            .events(query)
            .await
            .unwrap(),
    };
    events.into_iter().map(|e| e.id).collect()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A valid prediction event of `experiment`.
pub fn prediction(experiment: &str, client: &str, arm: &str, label: &str, confidence: f64) -> Value {
    let bundle = if arm == "int8" {
        "digits-mlp-int8"
    } else {
        "digits-mlp-qdq"
    };
    json!({
        "id": new_id(), "kind": "prediction", "time": now(), "clientId": client, "experiment": experiment,
        "inExperiment": true, "arm": arm, "assignedArm": arm,
        "model": { "name": bundle, "version": "1.0.0", "sha256": sha256_of(bundle) },
        "shadow": false, "source": "cache", "latencyMs": 0.5, "computeMs": 0.01,
        "output": { "label": label, "confidence": confidence, "topK": [{ "label": label, "probability": confidence }] },
        "error": null, "review": false
    })
}

/// An outcome for `prediction`.
pub fn outcome(prediction: &Value, actual: &str) -> Value {
    json!({
        "id": new_id(), "kind": "outcome", "time": now(), "clientId": prediction["clientId"], "experiment": prediction["experiment"],
        "inExperiment": true, "predictionId": prediction["id"], "actual": actual, "arm": prediction["arm"]
    })
}

pub fn batch(events: Vec<Value>) -> Value {
    json!({ "schema": 1, "sentAt": now(), "events": events })
}

//! `wasm-predict report …` on events sent through the ingest: the figures match hand-computed
//! values, the now-test exits non-zero below the manifest's minimum and posts to the webhook,
//! the review queue exports as CSV, and `purge` takes a client's events out of the reports. On
//! SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use support::*;

const EXPERIMENT: &str = "digits-int8-vs-qdq";

/// Runs a report: (exit code, stdout, stderr).
fn run_report(db: &str, args: &[&str]) -> (i32, String, String) {
    let root = repo();
    let output = Command::new(BINARY)
        .args(["report"])
        .args(args)
        .args(["--db", db])
        .arg("--root")
        .arg(&root)
        .arg("--experiment")
        .arg(root.join("www/experiment.json"))
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code().unwrap(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// Runs a report: (exit code, stdout then stderr).
fn report(db: &str, args: &[&str]) -> (i32, String) {
    let (code, out, err) = run_report(db, args);
    (code, out + &err)
}

/// Runs `wasm-predict purge`: (exit code, stdout then stderr).
fn purge(db: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(BINARY)
        .arg("purge")
        .args(args)
        .args(["--db", db])
        .arg("--root")
        .arg(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap(), text)
}

fn report_json(db: &str, args: &[&str]) -> Value {
    let (code, out, err) = run_report(db, args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn exposure(client: &str, arm: &str) -> Value {
    json!({ "id": new_id(), "kind": "exposure", "time": now(), "clientId": client, "experiment": EXPERIMENT,
            "inExperiment": true, "arm": arm, "servedArm": arm, "mode": "split", "bucket": 0.5 })
}

/// int8: 40 outcomes, 30 right (0.75, under its 0.94 minimum); qdq: 40 outcomes, 38 right (0.95).
/// Exposures 60 / 40 at 50/50 weights. Five low-confidence qdq predictions go to review.
fn traffic() -> Vec<Value> {
    let mut events = Vec::new();
    for (arm, right) in [("int8", 30), ("qdq", 38)] {
        for i in 0..40 {
            let p = prediction(EXPERIMENT, &format!("{arm}-client-{i}"), arm, "4", 0.97);
            events.push(outcome(&p, if i < right { "4" } else { "9" }));
            events.push(p);
        }
    }
    for i in 0..60 {
        events.push(exposure(&format!("int8-client-{i}"), "int8"));
    }
    for i in 0..40 {
        events.push(exposure(&format!("qdq-client-{i}"), "qdq"));
    }
    for i in 0..5 {
        let mut p = prediction(EXPERIMENT, &format!("unsure-{i}"), "qdq", "7", 0.41);
        p["review"] = json!(true);
        p["inputs"] = json!(vec![i as f64; 64]);
        events.push(json!({ "id": new_id(), "kind": "review", "time": now(), "clientId": p["clientId"], "experiment": EXPERIMENT,
            "inExperiment": true, "predictionId": p["id"], "arm": "qdq", "model": p["model"], "output": p["output"], "inputs": p["inputs"] }));
        events.push(p);
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_from_the_command_line() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |axum::Json(alert): axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move { sink.lock().unwrap().push(alert) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!("http://{}/alerts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        {
            let collector = start(&db, 0, &["--rate-limit", "0", "--now-test-every", "1h"]);
            let client = reqwest::Client::new();
            for chunk in traffic().chunks(100) {
                let (status, answer) = post(
                    &client,
                    &collector.url,
                    serde_json::to_vec(&batch(chunk.to_vec())).unwrap(),
                )
                .await;
                assert_eq!(status, 200, "{backend}: {answer}");
            }
        }

        let ab = report_json(&db, &["ab", "--json"]);
        let int8 = &ab["arms"][0];
        assert_eq!(
            (
                int8["predictions"].as_u64(),
                int8["outcomes"].as_u64(),
                int8["exposures"].as_u64()
            ),
            (Some(40), Some(40), Some(60))
        );
        assert!((int8["accuracy"]["value"].as_f64().unwrap() - 0.75).abs() < 1e-12);
        // Two-proportion z by hand: pooled 68/80 = .85, se = sqrt(.85 · .15 · (2/40)) = .079844, z = .2 / .079844 = 2.5049, p = .01225
        let comparison = &ab["comparisons"][0]["accuracy"];
        assert!(
            (comparison["difference"].as_f64().unwrap() - 0.2).abs() < 1e-9,
            "{comparison}"
        );
        assert!(
            (comparison["statistic"].as_f64().unwrap() - 2.5049).abs() < 1e-3,
            "{comparison}"
        );
        assert!(
            (comparison["p_value"].as_f64().unwrap() - 0.01225).abs() < 2e-4,
            "{comparison}"
        );
        // SRM by hand: 60 / 40 at 50/50, χ² = (10² + 10²) / 50 = 4, p = .0455: not a mismatch at .001
        assert!((ab["sample_ratio"]["test"]["statistic"].as_f64().unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(ab["sample_ratio"]["mismatch"], false);
        let (_, text) = report(&db, &["ab"]);
        assert!(
            text.contains("qdq vs int8: accuracy +0.2000, z = 2.505, p = 0.0122"),
            "{text}"
        );

        let (code, text) = report(&db, &["now-test", "--webhook", &webhook]);
        assert_eq!(code, 1, "{backend}: 0.75 < 0.94 fails: {text}");
        assert!(text.contains("FAIL"), "{text}");
        let (code, text) = report(&db, &["now-test", "--model", "digits-mlp-qdq@1.0.0"]);
        assert_eq!(code, 0, "{backend}: 38/45 with the unsure ones unlabelled: {text}");
        let (code, text) = report(&db, &["now-test", "--min-outcomes", "1000"]);
        assert_eq!(code, 0, "no verdict is not a failure: {text}");
        assert!(text.contains("not enough labelled outcomes"));

        let (code, csv, _) = run_report(&db, &["review", "--csv"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 6, "{csv}");
        assert!(lines[0].starts_with("prediction_id,time,experiment,arm,model,label,confidence,labelled,input_0,"));
        assert!(lines[0].ends_with(",input_63"));
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.contains(",qdq,digits-mlp-qdq@1.0.0,7,0.41,false,")),
            "{csv}"
        );

        let drift = report_json(&db, &["drift", "--model", "digits-mlp-qdq@1.0.0", "--json"]);
        assert_eq!(drift["with_inputs"], 5);
        assert_eq!(drift["features"].as_array().unwrap().len(), 64);

        let (code, text) = report(&db, &["drift", "--model", "nope"]);
        assert_eq!(code, 2, "a bad --model is an error: {text}");
        assert!(text.contains("name@version"), "{text}");

        // A user asks to be forgotten: their prediction, outcome and exposure go, and the report with them.
        let (code, text) = purge(&db, &["--client", "int8-client-0"]);
        assert_eq!(
            (code, text.trim()),
            (0, "deleted 3 events of client int8-client-0"),
            "{backend}"
        );
        let ab = report_json(&db, &["ab", "--json"]);
        let int8 = &ab["arms"][0];
        assert_eq!(
            (
                int8["predictions"].as_u64(),
                int8["outcomes"].as_u64(),
                int8["exposures"].as_u64(),
                int8["clients"].as_u64()
            ),
            (Some(39), Some(39), Some(59), Some(59)),
            "{backend}: {int8}"
        );
        assert!(
            (int8["accuracy"]["value"].as_f64().unwrap() - 29.0 / 39.0).abs() < 1e-12,
            "{int8}"
        );
        let (code, text) = purge(&db, &["--older-than", "1h"]);
        assert_eq!(code, 0, "{text}");
        assert!(text.starts_with("deleted 0 events made before "), "{text}");
        let (code, text) = purge(&db, &[]);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("--older-than") && text.contains("--client"), "{text}");
        let (code, text) = purge(&db, &["--older-than", "soon"]);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("--older-than: `soon` is not a duration"), "{text}");
    }
    let alerts = received.lock().unwrap();
    assert!(!alerts.is_empty(), "the failing now-test was posted");
    assert_eq!(alerts[0]["kind"], "now-test");
    assert_eq!(alerts[0]["subject"], "digits-mlp-int8@1.0.0");
}

#[test]
fn report_without_a_database_is_a_clear_error() {
    let (code, text) = report("/nonexistent/events.db", &["ab"]);
    assert_eq!(code, 2);
    assert!(text.contains("no database at /nonexistent/events.db"), "{text}");
}

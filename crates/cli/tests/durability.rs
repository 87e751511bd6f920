//! Under load from a second process: `kill -9` the collector mid-stream, restart it, and every
//! event it acknowledged is stored; then a bounded load test (100 clients) loses nothing.
//! On SQLite and PostgreSQL. The load test's figures are printed for the README.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use support::*;

fn load_test(url: &str, clients: usize, seconds: f64, acked: &std::path::Path) -> std::process::Child {
    Command::new(BINARY)
        .args([
            "load-test",
            "--url",
            url,
            "--clients",
            &clients.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--json",
        ])
        .arg("--acked-file")
        .arg(acked)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn acked_ids(path: &std::path::Path) -> HashSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        let port = free_port();
        let first = start(&db, port, &["--rate-limit", "0"]);
        let acked = dir.path().join(format!("acked-{backend}.txt"));
        let generator = load_test(&first.url, 20, 10.0, &acked);
        // Kill once events are being acknowledged, however long this machine took to get there.
        let waited = std::time::Instant::now();
        while acked_ids(&acked).len() < 50 && waited.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut first = first;
        Command::new("kill")
            .args(["-9", &first.child.id().to_string()])
            .status()
            .unwrap();
        first.child.wait().unwrap();
        let before_restart = acked_ids(&acked).len();
        assert!(
            before_restart > 0,
            "{backend}: events were acknowledged before the kill"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = start(&db, port, &["--rate-limit", "0"]);
        let output = generator.wait_with_output().unwrap();
        assert!(output.status.success());
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            result["failed_requests"].as_u64().unwrap() > 0,
            "{backend}: the kill was felt: {result}"
        );
        let acknowledged = acked_ids(&acked);
        assert!(
            acknowledged.len() > before_restart,
            "{backend}: the restarted collector took events too"
        );
        let stored = stored_ids(&db, "load-test").await;
        let lost: Vec<_> = acknowledged.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{backend}: {} acknowledged events lost, e.g. {:?}",
            lost.len(),
            lost.first()
        );
        eprintln!(
            "{backend}: kill -9 after {before_restart} acknowledged; {} acknowledged in all, all stored",
            acknowledged.len()
        );
        drop(second);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounded_load_test_of_100_clients_loses_nothing() {
    let seconds: f64 = std::env::var("WASM_PREDICT_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        let collector = start(&db, 0, &[]);
        let acked = dir.path().join(format!("load-{backend}.txt"));
        let output = load_test(&collector.url, 100, seconds, &acked)
            .wait_with_output()
            .unwrap();
        assert!(output.status.success());
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let acknowledged = acked_ids(&acked);
        assert_eq!(
            acknowledged.len() as u64,
            result["acknowledged_events"].as_u64().unwrap(),
            "{backend}"
        );
        // That the load happened, not how fast: the throughput is printed, never asserted.
        assert!(acknowledged.len() >= 100, "{backend}: {result}");
        assert_eq!(result["failed_requests"], 0, "{backend}: {result}");
        let stored = stored_ids(&db, "load-test").await;
        assert_eq!(
            stored, acknowledged,
            "{backend}: exactly the acknowledged events are stored"
        );
        eprintln!("load test, {backend}: {}", serde_json::to_string(&result).unwrap());
    }
}

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
        // 100 clients from one address: the per-address limit would refuse most of them.
        let collector = start(&db, 0, &["--rate-limit", "0"]);
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

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_answers_what_is_in_flight_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        let mut collector = start(&db, 0, &["--rate-limit", "0"]);
        let acked = dir.path().join(format!("term-{backend}.txt"));
        let generator = load_test(&collector.url, 20, 8.0, &acked);
        let waited = std::time::Instant::now();
        while acked_ids(&acked).len() < 50 && waited.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Command::new("kill")
            .args(["-TERM", &collector.child.id().to_string()])
            .status()
            .unwrap();
        let status = collector.child.wait().unwrap();
        assert!(status.success(), "{backend}: SIGTERM is a clean stop: {status}");
        let output = generator.wait_with_output().unwrap();
        assert!(output.status.success());
        let acknowledged = acked_ids(&acked);
        assert!(acknowledged.len() >= 50, "{backend}");
        let stored = stored_ids(&db, "load-test").await;
        let lost: Vec<_> = acknowledged.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{backend}: {} acknowledged events lost after SIGTERM",
            lost.len()
        );
        eprintln!(
            "{backend}: SIGTERM after {} acknowledged events, all stored",
            acknowledged.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supplied_token_is_never_printed_and_readiness_follows_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let root = repo();
    let token = "secret-token-from-the-environment";
    let mut child = Command::new(BINARY)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-requests",
        ])
        .arg("--db")
        .arg(&db)
        .arg("--root")
        .arg(&root)
        .env("WASM_PREDICT_ADMIN_TOKEN", token)
        .env("WASM_PREDICT_EXPERIMENT", root.join("www/experiment.json"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut printed = Vec::new();
    while printed.len() < 4 {
        printed.push(lines.next().unwrap().unwrap());
    }
    let text = printed.join("\n");
    assert!(!text.contains(token), "{text}");
    assert!(text.contains("the admin token you supplied"), "{text}");
    let url = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("demo:"))
        .unwrap()
        .trim()
        .trim_end_matches("/www/index.html")
        .to_string();
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // Another collector's newer schema: this one is up but not ready.
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection
        .execute(
            "INSERT INTO schema_migrations VALUES (999, 'from a newer collector', '2026-12-03T00:00:00Z')",
            [],
        )
        .unwrap();
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.text().await.unwrap().contains("schema is v999"));
    assert_eq!(client.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "wasm_predict::request")
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| r["fields"]["path"] == "/readyz" && r["fields"]["status"] == 503 && r["fields"]["ms"].is_number()),
        "{logs}"
    );
    assert!(
        requests.iter().all(|r| !r.to_string().contains("127.0.0.1")),
        "no address in request logs: {logs}"
    );
    let last = lines.last().unwrap();
    assert!(
        last["fields"]["message"].as_str().unwrap().starts_with("stopped"),
        "{logs}"
    );
    assert!(!logs.contains(token), "{logs}");
}

/// The address `child` serves, from its first lines; the rest of its output is drained (a
/// closed pipe would fail its next print).
fn started(child: &mut std::process::Child) -> String {
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(demo) = line.trim().strip_prefix("demo:") {
            std::thread::spawn(move || lines.for_each(drop));
            return demo.trim().trim_end_matches("/www/index.html").to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_from_any_folder_with_its_files_built_in_or_an_operators_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.bytes().await.unwrap())
        }
    };
    let serve = |extra: &[&str]| {
        Command::new(BINARY)
            .current_dir(dir.path())
            .args(["serve", "--addr", "127.0.0.1:0", "--db", "events.db"])
            .args(extra)
            .env_remove("WASM_PREDICT_ROOT")
            .env_remove("WASM_PREDICT_EXPERIMENT")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let stop = |mut child: std::process::Child| {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
    };

    let mut child = serve(&[]);
    let url = started(&mut child);
    for path in [
        "/www/dashboard.html",
        "/www/shell/client.js",
        "/models/digits-mlp-int8/1.0.0/manifest.json",
    ] {
        let (status, body) = get(format!("{url}{path}")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, std::fs::read(repo().join(&path[1..])).unwrap(), "{path}");
    }
    let (status, config) = get(format!("{url}/www/experiment.json")).await;
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["id"], "digits-int8-vs-qdq");
    stop(child);
    let report = Command::new(BINARY)
        .current_dir(dir.path())
        .args(["report", "ab", "--db", "events.db", "--json"])
        .env_remove("WASM_PREDICT_ROOT")
        .env_remove("WASM_PREDICT_EXPERIMENT")
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));

    let models = dir.path().join("bundles");
    let mine = models.join("mine/2.0.0");
    std::fs::create_dir_all(&mine).unwrap();
    for file in ["manifest.json", "model.onnx"] {
        std::fs::copy(repo().join("models/digits-mlp-int8/1.0.0").join(file), mine.join(file)).unwrap();
    }
    let mut child = serve(&["--models", "bundles"]);
    let url = started(&mut child);
    let (status, _) = get(format!("{url}/models/mine/2.0.0/model.onnx")).await;
    assert_eq!(status, 200);
    let (status, _) = get(format!("{url}/models/digits-mlp-int8/1.0.0/manifest.json")).await;
    assert_eq!(status, 404, "--models replaces the built-in bundles");
    let (status, _) = get(format!("{url}/www/index.html")).await;
    assert_eq!(status, 200, "the rest is still built in");
    stop(child);
}

/// PostgreSQL: outcomes whose predictions were stored by transactions that did not see them
/// (the race made here by hiding the waiting outcomes while the predictions go in) count in the
/// served A/B report once `serve`'s periodic pass has joined them, with no report read needed.
#[tokio::test(flavor = "multi_thread")]
async fn serve_joins_outcomes_left_waiting_by_a_race_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        if backend != "postgres" {
            continue;
        }
        let collector = start(&db, 0, &["--rate-limit", "0"]);
        let http = reqwest::Client::new();
        let predictions: Vec<_> = (0..8)
            .map(|i| prediction("digits-int8-vs-qdq", &format!("race-{i}"), "int8", "7", 0.9))
            .collect();
        let outcomes: Vec<_> = predictions.iter().map(|p| outcome(p, "7")).collect();
        let url = &collector.url;
        assert_eq!(post(&http, url, batch(outcomes).to_string()).await.0, 200);
        let (sql, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        sql.execute("UPDATE events SET pending = FALSE WHERE pending", &[])
            .await
            .unwrap();
        assert_eq!(post(&http, url, batch(predictions).to_string()).await.0, 200);
        sql.execute("UPDATE events SET pending = TRUE WHERE kind = 'outcome'", &[])
            .await
            .unwrap();
        let report = || async {
            let answer = http
                .get(format!("{}/v1/reports/ab", collector.url))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = answer.json().await.unwrap();
            body["arms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|arm| arm["outcomes"].as_u64().unwrap())
                .sum::<u64>()
        };
        let waited = std::time::Instant::now();
        let mut joined = report().await;
        while joined < 8 && waited.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            joined = report().await;
        }
        assert_eq!(
            joined, 8,
            "{backend}: the raced outcomes are joined by serve's own pass"
        );
    }
}

//! The collector's HTTP API in-process (the router called with `oneshot`), on SQLite and
//! PostgreSQL: every malformed input gets a 4xx naming what is wrong and stores nothing invalid;
//! duplicates are stored once; CORS, the rate limit, static files and the admin token. The real
//! binary is tested where a process matters (crates/cli/tests: kill -9, load, end to end).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use support::*;
use wasm_predict_collector::site::Site;

const EXPERIMENT: &str = "ingest-test";

/// (what, body, expected status, expected words in the answer)
fn malformed() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let good = || prediction(EXPERIMENT, "c1", "int8", "3", 0.9);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut event = good();
        change(&mut event);
        serde_json::to_vec(&batch(vec![event])).unwrap()
    };
    let body = |value: Value| serde_json::to_vec(&value).unwrap();
    vec![
        ("not JSON", b"{nope".to_vec(), 400, "not JSON"),
        ("empty body", Vec::new(), 400, "not JSON"),
        ("a JSON array", b"[1,2]".to_vec(), 400, "JSON object"),
        // serde reads a struct from an array of its fields in order: the envelope and the events
        // must still be objects.
        ("the envelope as an array", b"[1,null,[]]".to_vec(), 400, "JSON object"),
        (
            "an event as an array of its fields",
            body(
                json!({"schema": 1, "events": [["0190f0f0-0000-7000-8000-000000000001", "exposure",
                "2026-12-03T00:00:00Z", "c", EXPERIMENT, true, "A"]]}),
            ),
            422,
            "an event must be a JSON object",
        ),
        (
            "sentAt with a lone surrogate",
            br#"{"schema": 1, "sentAt": "\udc00", "events": []}"#.to_vec(),
            400,
            "not JSON",
        ),
        (
            "a time past the year 9999 in UTC",
            with(&|e| e["time"] = json!("9999-12-31T23:59:59-01:00")),
            422,
            "outside the years 0 to 9999",
        ),
        (
            "wrong schema",
            body(json!({"schema": 2, "events": []})),
            400,
            "schema must be 1",
        ),
        ("no schema", body(json!({"events": []})), 400, "schema must be 1"),
        (
            "events not an array",
            body(json!({"schema": 1, "events": {}})),
            400,
            "events must be an array",
        ),
        (
            "unknown envelope field",
            body(json!({"schema": 1, "events": [], "extra": 1})),
            400,
            "unknown envelope field",
        ),
        (
            "too many events",
            body(json!({"schema": 1, "events": vec![good(); 501]})),
            413,
            "at most 500",
        ),
        (
            "an event that is a string",
            body(json!({"schema": 1, "events": ["x"]})),
            422,
            "JSON object",
        ),
        (
            "missing id",
            with(&|e| drop(e.as_object_mut().unwrap().remove("id"))),
            422,
            "id is missing",
        ),
        ("id not a UUID", with(&|e| e["id"] = "42".into()), 422, "not a UUID"),
        (
            "id in capitals",
            with(&|e| e["id"] = new_id().to_uppercase().into()),
            422,
            "lowercase",
        ),
        (
            "unknown kind",
            with(&|e| e["kind"] = "click".into()),
            422,
            "is not one of",
        ),
        (
            "kind of wrong type",
            with(&|e| e["kind"] = 7.into()),
            422,
            "kind must be a string",
        ),
        (
            "bad time",
            with(&|e| e["time"] = "yesterday".into()),
            422,
            "not RFC 3339",
        ),
        (
            "huge client id",
            with(&|e| e["clientId"] = "x".repeat(129).into()),
            422,
            "longer than 128",
        ),
        (
            "empty client id",
            with(&|e| e["clientId"] = "".into()),
            422,
            "clientId is empty",
        ),
        (
            "inExperiment not a bool",
            with(&|e| e["inExperiment"] = "yes".into()),
            422,
            "inExperiment must be",
        ),
        (
            "unknown field",
            with(&|e| e["password"] = "hunter2".into()),
            422,
            "unknown field",
        ),
        (
            "prediction without model",
            with(&|e| drop(e.as_object_mut().unwrap().remove("model"))),
            422,
            "model is missing",
        ),
        (
            "negative latency",
            with(&|e| e["latencyMs"] = (-1.0).into()),
            422,
            "latencyMs must be",
        ),
        (
            "latency out of range",
            with(&|e| e["latencyMs"] = 1e12.into()),
            422,
            "latencyMs must be",
        ),
        (
            "number beyond f64",
            br#"{"schema":1,"events":[{"latencyMs":1e999}]}"#.to_vec(),
            400,
            "not JSON",
        ),
        (
            "confidence over 1",
            with(&|e| e["output"]["confidence"] = 1.5.into()),
            422,
            "confidence must be in [0, 1]",
        ),
        (
            "top-k too long",
            with(&|e| e["output"]["topK"] = json!(vec![json!({"label": "1", "probability": 0.1}); 101])),
            422,
            "topK holds at most",
        ),
        (
            "control characters",
            with(&|e| e["output"]["label"] = "3\u{0007}".into()),
            422,
            "control characters",
        ),
        (
            "huge string",
            with(&|e| e["error"] = json!({"code": "X", "message": "m".repeat(2001)})),
            422,
            "longer than 2000",
        ),
        (
            "too many inputs",
            with(&|e| e["inputs"] = json!(vec![0.0; 16_385])),
            422,
            "inputs holds at most",
        ),
        (
            "inputs not numbers",
            with(&|e| e["inputs"] = json!(["a"])),
            422,
            "invalid type",
        ),
        (
            "bad sha256",
            with(&|e| e["model"]["sha256"] = "abc".into()),
            422,
            "64 lowercase hex",
        ),
        (
            "output without label or value",
            with(&|e| e["output"] = json!({"confidence": 0.5})),
            422,
            "label or a value",
        ),
        (
            "outcome with an object",
            body(
                json!({"schema": 1, "events": [{"id": new_id(), "kind": "outcome", "time": now(), "clientId": "c", "experiment": EXPERIMENT, "inExperiment": true, "predictionId": new_id(), "actual": {"a": 1}}]}),
            ),
            422,
            "actual must be",
        ),
        (
            "review without prediction",
            body(
                json!({"schema": 1, "events": [{"id": new_id(), "kind": "review", "time": now(), "clientId": "c", "experiment": EXPERIMENT, "inExperiment": true, "output": {"label": "1"}}]}),
            ),
            422,
            "predictionId is missing",
        ),
        (
            "fallback without reason",
            body(
                json!({"schema": 1, "events": [{"id": new_id(), "kind": "fallback", "time": now(), "clientId": "c", "experiment": EXPERIMENT, "inExperiment": true, "fromArm": "a", "toArm": "b"}]}),
            ),
            422,
            "reason is missing",
        ),
        (
            "exposure with a bad mode",
            body(
                json!({"schema": 1, "events": [{"id": new_id(), "kind": "exposure", "time": now(), "clientId": "c", "experiment": EXPERIMENT, "inExperiment": true, "arm": "a", "mode": "canary"}]}),
            ),
            422,
            "mode must be split or shadow",
        ),
        (
            "invalid UTF-8",
            b"{\"schema\":1,\"events\":[\"\xff\xfe\"]}".to_vec(),
            400,
            "not JSON",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_input_gets_a_clear_4xx_and_stores_nothing_invalid() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        let collector = in_process(&db, Setup::default()).await;
        for (what, body, status, words) in malformed() {
            let (got, answer) = collector.post(body).await;
            assert_eq!(got, status, "{backend}: {what}: {answer}");
            assert!(answer.to_string().contains(words), "{backend}: {what}: {answer}");
        }
        let oversized = vec![b' '; (1 << 20) + 1];
        assert_eq!(collector.post(oversized).await.0, 413, "{backend}: a body over 1 MiB");
        assert!(
            stored_ids(&db, EXPERIMENT).await.is_empty(),
            "{backend}: nothing stored"
        );

        // One valid and one invalid event: 422, the valid one stored and named, the other refused by index.
        let valid = prediction(EXPERIMENT, "c2", "int8", "5", 0.8);
        let mut invalid = prediction(EXPERIMENT, "c2", "int8", "5", 0.8);
        invalid["latencyMs"] = json!("fast");
        let (status, answer) = collector
            .post(serde_json::to_vec(&batch(vec![valid.clone(), invalid.clone()])).unwrap())
            .await;
        assert_eq!(status, 422, "{backend}: {answer}");
        assert_eq!(answer["accepted"], json!([valid["id"]]));
        assert_eq!(answer["rejected"][0]["index"], 1);
        assert_eq!(answer["rejected"][0]["id"], invalid["id"]);
        let stored = stored_ids(&db, EXPERIMENT).await;
        assert_eq!(stored.len(), 1);
        assert!(stored.contains(valid["id"].as_str().unwrap()));

        // Unicode is data, not a problem: an emoji client id and a label in another script.
        let unicode = prediction(EXPERIMENT, "клиент-😀", "int8", "八", 0.7);
        let (status, answer) = collector
            .post(serde_json::to_vec(&batch(vec![unicode.clone()])).unwrap())
            .await;
        assert_eq!(status, 200, "{backend}: {answer}");
        // A beacon's text/plain body is read the same way.
        let beacon = Request::post("/v1/events")
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Body::from(
                serde_json::to_vec(&batch(vec![prediction(EXPERIMENT, "c3", "qdq", "1", 0.9)])).unwrap(),
            ))
            .unwrap();
        assert_eq!(collector.send(beacon).await.0, 200);
        assert_eq!(stored_ids(&db, EXPERIMENT).await.len(), 3, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_id_is_stored_once_however_often_and_however_concurrently_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        let collector = in_process(&db, Setup::default()).await;
        let events: Vec<Value> = (0..20)
            .map(|i| prediction("dedup-test", &format!("c{i}"), "int8", "7", 0.9))
            .collect();
        let body = serde_json::to_vec(&batch(events.clone())).unwrap();
        let (status, first) = collector.post(body.clone()).await;
        assert_eq!(
            (status, first["accepted"].as_array().unwrap().len()),
            (200, 20),
            "{backend}"
        );
        let (status, again) = collector.post(body.clone()).await;
        assert_eq!(status, 200, "{backend}: a repeat is acknowledged");
        assert_eq!(again["duplicates"].as_array().unwrap().len(), 20, "{backend}: {again}");
        assert!(again["accepted"].as_array().unwrap().is_empty());
        let fresh: Vec<Value> = (0..20)
            .map(|i| prediction("dedup-test", &format!("d{i}"), "qdq", "7", 0.9))
            .collect();
        let body = serde_json::to_vec(&batch(fresh)).unwrap();
        let racing: Vec<_> = (0..10)
            .map(|_| {
                let (collector, body) = (collector.clone(), body.clone());
                tokio::spawn(async move { collector.post(body).await })
            })
            .collect();
        let mut answers = Vec::new();
        for handle in racing {
            answers.push(handle.await.unwrap());
        }
        let accepted: usize = answers
            .iter()
            .map(|(_, a)| a["accepted"].as_array().unwrap().len())
            .sum();
        assert!(answers.iter().all(|(s, _)| *s == 200), "{backend}");
        assert_eq!(accepted, 20, "{backend}: ten racing copies, each event accepted once");
        assert_eq!(stored_ids(&db, "dedup-test").await.len(), 40, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_rate_limit_static_files_and_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db").display().to_string();
    let collector = in_process(
        &db,
        Setup {
            cors_origins: vec!["https://shop.example".into()],
            rate: (1.0, 2.0),
            ..Setup::default()
        },
    )
    .await;

    let preflight = |origin: &'static str| {
        let request = Request::builder()
            .method("OPTIONS")
            .uri("/v1/events")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap();
        let collector = collector.clone();
        async move { collector.send(request).await.1 }
    };
    let allowed = preflight("https://shop.example").await;
    assert_eq!(allowed["access-control-allow-origin"], "https://shop.example");
    let refused = preflight("https://evil.example").await;
    assert!(refused.get("access-control-allow-origin").is_none());

    // The metrics recorder is installed by the first scrape; counters are per process, so only growth is checked.
    let scrape = || async {
        let (status, text) = collector.admin_text("/metrics").await;
        assert_eq!(status, 200);
        text
    };
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    };
    let before = scrape().await;
    assert_eq!(
        collector.get("/metrics", &[]).await.0,
        401,
        "metrics need the admin token"
    );
    let one =
        |client: &str| serde_json::to_vec(&batch(vec![prediction("rate-test", client, "int8", "1", 0.9)])).unwrap();
    assert_eq!(collector.post(one("same-client")).await.0, 200);
    assert_eq!(collector.post(one("same-client")).await.0, 200);
    let (status, headers, _) = collector
        .send(
            Request::post("/v1/events")
                .body(Body::from(one("same-client")))
                .unwrap(),
        )
        .await;
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_some());
    assert_eq!(
        collector.post(one("another-client")).await.0,
        429,
        "the limit is per address: another client id is no way around it"
    );
    assert_eq!(
        collector.post(b"not even json".to_vec()).await.0,
        429,
        "refused before the body is read"
    );
    let after = scrape().await;
    for (series, grew_by) in [
        ("wasm_predict_events_accepted_total", 2.0),
        ("wasm_predict_rate_limited_total{limit=\"address\"}", 3.0),
        (
            "wasm_predict_request_seconds_count{route=\"ingest\",status=\"429\"}",
            3.0,
        ),
        ("wasm_predict_commit_seconds_count", 2.0),
    ] {
        assert!(
            value(&after, series) >= value(&before, series) + grew_by,
            "{series}:\n{after}"
        );
    }
    assert!(after.contains("wasm_predict_commits_waiting"), "{after}");
    // Behind a trusted proxy, each sender its own bucket; a direct sender's header is not believed.
    let proxied = in_process(
        &dir.path().join("proxied.db").display().to_string(),
        Setup {
            rate: (1.0, 2.0),
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            ..Setup::default()
        },
    )
    .await;
    let from = |address: &str, client: &str| {
        Request::post("/v1/events")
            .header("x-forwarded-for", format!("203.0.113.50, {address}"))
            .body(Body::from(one(client)))
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(proxied.send(from("198.51.100.1", "a")).await.0, 200);
    }
    assert_eq!(proxied.send(from("198.51.100.1", "b")).await.0, 429);
    assert_eq!(
        proxied.send(from("198.51.100.2", "c")).await.0,
        200,
        "another sender behind the proxy"
    );
    assert_eq!(
        collector.send(from("198.51.100.3", "d")).await.0,
        429,
        "an untrusted peer's header is ignored"
    );

    let (status, headers) = collector.get("/pkg/wasm_predict_bg.wasm", &[]).await;
    if status == 200 {
        assert_eq!(headers["content-type"], "application/wasm");
    }
    let (status, page) = collector.get("/www/index.html", &[]).await;
    assert_eq!(status, 200);
    assert!(page["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self' 'wasm-unsafe-eval'"));
    let modified = page["last-modified"].to_str().unwrap().to_string();
    let (status, _) = collector
        .get("/www/index.html", &[("if-modified-since", &modified)])
        .await;
    assert_eq!(status, 304);
    let (status, bundle) = collector.get("/models/digits-mlp-int8/1.0.0/model.onnx", &[]).await;
    assert_eq!(status, 200);
    assert!(bundle["cache-control"].to_str().unwrap().contains("immutable"));
    let (_, config) = collector.get("/www/experiment.json", &[]).await;
    assert_eq!(config["cache-control"], "max-age=60");
    for path in [
        "/www/../Cargo.toml",
        "/www/%2e%2e/Cargo.toml",
        "/crates/cli/Cargo.toml",
        "/www/missing.html",
        "/%ff",
    ] {
        assert_eq!(collector.get(path, &[]).await.0, 404, "{path}");
    }

    for path in [
        "/v1/reports/ab",
        "/v1/reports/drift",
        "/v1/reports/review.csv",
        "/v1/alerts",
    ] {
        assert_eq!(collector.get(path, &[]).await.0, 401, "{path}");
        let wrong = collector.get(path, &[("authorization", "Bearer nope")]).await;
        assert_eq!(wrong.0, 401, "{path}");
        let right = collector
            .get(path, &[("authorization", &format!("Bearer {TOKEN}"))])
            .await;
        assert_eq!(right.0, 200, "{path}");
    }
}

/// The body `encoding` (br, gzip or none) says was sent, decoded.
fn decoded(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Some("br") => brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap(),
        Some("gzip") => drop(std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out).unwrap()),
        None => out = body.to_vec(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_its_own_files_precompressed_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let setup = Setup {
        site: Site::embedded(),
        ..Setup::default()
    };
    let collector = in_process(db.to_str().unwrap(), setup).await;
    let mut files = vec![
        "www/dashboard.js",
        "www/index.html",
        "models/digits-mlp-int8/1.0.0/manifest.json",
    ];
    // The package is there once scripts/build.sh has run before the build (as in CI).
    if repo().join("pkg/wasm_predict_bg.wasm").is_file() {
        files.push("pkg/wasm_predict_bg.wasm");
    }
    for file in files {
        let on_disk = std::fs::read(repo().join(file)).unwrap();
        let path = format!("/{file}");
        let mut etags = std::collections::HashSet::new();
        for (accept, expected) in [
            ("br, gzip, deflate", Some("br")),
            ("gzip;q=1.0, br;q=0", Some("gzip")),
            ("identity", None),
        ] {
            let (status, headers, body) = collector.get_body(&path, &[("accept-encoding", accept)]).await;
            assert_eq!(status, 200, "{file}");
            let encoding = headers.get("content-encoding").map(|v| v.to_str().unwrap());
            assert_eq!(encoding, expected, "{file} with accept-encoding: {accept}");
            assert_eq!(decoded(encoding, &body), on_disk, "{file} as {expected:?}");
            assert_eq!(headers["vary"], "accept-encoding");
            let etag = headers["etag"].to_str().unwrap().to_string();
            assert!(etags.insert(etag.clone()), "{file}: one ETag per variant");
            let (status, _) = collector
                .get(&path, &[("accept-encoding", accept), ("if-none-match", &etag)])
                .await;
            assert_eq!(status, 304, "{file}");
        }
        let (_, headers) = collector.get(&path, &[]).await;
        let cache = headers["cache-control"].to_str().unwrap();
        assert_eq!(
            cache.contains("immutable"),
            file.starts_with("models/"),
            "{file}: {cache}"
        );
    }
    // pkg/ is there once scripts/build.sh has run (the test command runs it first).
    let (status, wasm) = collector.get("/pkg/wasm_predict_bg.wasm", &[]).await;
    if status == 200 {
        assert_eq!(wasm["content-type"], "application/wasm");
    }
    let (_, config) = collector.get("/www/experiment.json", &[]).await;
    assert_eq!(config["cache-control"], "max-age=60");
    for path in [
        "/www/../Cargo.toml",
        "/www/%2e%2e/Cargo.toml",
        "/www/",
        "/src/lib.rs",
        "/www/missing.html",
    ] {
        assert_eq!(collector.get(path, &[]).await.0, 404, "{path}");
    }
}

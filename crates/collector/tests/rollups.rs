//! The rollups each store keeps at ingest hold exactly what the events contribute
//! (`rollup::delta_of` over the same events, in memory): whatever order the events arrive in
//! (outcomes before their predictions, across batches and concurrent requests), however often
//! they are resent, over any window; and a rebuild from the events gives them back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use support::{backends, repo, sha256_of};
use wasm_predict_collector::events::{validate_batch, validate_event, Event};
use wasm_predict_collector::experiment::Bundles;
use wasm_predict_collector::rollup::{self, delta_of, drift::observations_in, AbTotals, Counts, Delta};
use wasm_predict_collector::serve::Database;
use wasm_predict_collector::site::Site;
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::{EventQuery, EventStore, Incoming};

const EXPERIMENT: &str = "rollup-test";

/// A small deterministic generator (no dependency, the same stream on every machine).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        self.below(1_000_000) as f64 / 1_000_000.0
    }
}

fn id(n: u64) -> String {
    format!("0190f0f0-0000-7000-8000-{n:012x}")
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// About `n` events over the last three hours: exposures, shown and shadow predictions of two
/// classifiers and a regressor (some failed, some in no time, some outside the experiment,
/// with inputs or not, some inputs missing), fallbacks, reviews, and outcomes for most shown
/// predictions (a few twice, a few for predictions never sent).
fn events(n: u64, seed: u64) -> Vec<Value> {
    let mut rng = Lcg(seed);
    let start = Utc::now() - TimeDelta::hours(3);
    let models = [
        ("int8", "digits-mlp-int8", 64),
        ("qdq", "digits-mlp-qdq", 64),
        ("reg", "diabetes-linreg", 10),
    ];
    let mut out = Vec::new();
    let mut next_id = seed << 24;
    while (out.len() as u64) < n {
        next_id += 1;
        let time = start + TimeDelta::seconds(rng.below(3 * 3600) as i64);
        let client = format!("client-{}", rng.below(60));
        let (arm, model, width) = models[rng.below(3) as usize];
        let in_experiment = rng.below(10) != 0;
        let base = json!({
            "id": id(next_id), "time": stamp(time), "clientId": client, "experiment": EXPERIMENT,
            "inExperiment": in_experiment,
        });
        let mut event = base.clone();
        match rng.below(10) {
            0 => {
                event["kind"] = json!("exposure");
                event["arm"] = json!(arm);
                event["assignedArm"] = json!(arm);
                event["servedArm"] = json!(arm);
                event["mode"] = json!("split");
                event["bucket"] = json!(rng.unit());
            }
            1 => {
                event["kind"] = json!("fallback");
                event["fromArm"] = json!(arm);
                event["toArm"] = json!("int8");
                event["reason"] = json!("load-failed");
                event["detail"] = json!("test");
            }
            _ => {
                let classifier = width == 64;
                let label = rng.below(10).to_string();
                let failed = rng.below(25) == 0;
                event["kind"] = json!("prediction");
                event["arm"] = json!(arm);
                event["assignedArm"] = json!(arm);
                event["model"] = json!({"name": model, "version": "1.0.0", "sha256": sha256_of(model)});
                event["shadow"] = json!(rng.below(8) == 0);
                event["source"] = json!("cache");
                event["latencyMs"] = json!(if rng.below(12) == 0 {
                    0.0
                } else {
                    0.05 + rng.unit() * 40.0
                });
                event["computeMs"] = json!(0.01);
                event["review"] = json!(false);
                if failed {
                    event["error"] = json!({"code": "bad-input", "message": "test"});
                } else if classifier {
                    let confidence = 0.3 + rng.unit() * 0.7;
                    event["output"] = json!({"label": label, "confidence": confidence,
                        "topK": [{"label": label, "probability": confidence}]});
                } else {
                    event["output"] = json!({"value": 50.0 + rng.unit() * 250.0});
                }
                if rng.below(2) == 0 {
                    let row: Vec<Value> = (0..width)
                        .map(|_| {
                            if rng.below(30) == 0 {
                                Value::Null
                            } else if classifier {
                                json!(rng.below(17))
                            } else {
                                json!(rng.unit() * 0.2 - 0.1)
                            }
                        })
                        .collect();
                    event["inputs"] = json!(row);
                }
                let prediction = event.clone();
                out.push(event);
                if !failed && rng.below(20) == 0 {
                    let mut review = base.clone();
                    next_id += 1;
                    review["id"] = json!(id(next_id));
                    review["kind"] = json!("review");
                    review["arm"] = json!(arm);
                    review["model"] = prediction["model"].clone();
                    review["predictionId"] = prediction["id"].clone();
                    if let Some(output) = prediction.get("output") {
                        review["output"] = output.clone();
                    }
                    out.push(review);
                }
                for _ in 0..[0, 1, 1, 1, 2][rng.below(5) as usize] {
                    next_id += 1;
                    let mut outcome = base.clone();
                    outcome["id"] = json!(id(next_id));
                    outcome["kind"] = json!("outcome");
                    outcome["time"] = json!(stamp(time + TimeDelta::seconds(rng.below(1800) as i64)));
                    outcome["inExperiment"] = json!(in_experiment || rng.below(5) == 0);
                    outcome["arm"] = json!(arm);
                    let actual = if classifier {
                        json!(if rng.below(4) == 0 {
                            rng.below(10).to_string()
                        } else {
                            label.clone()
                        })
                    } else {
                        json!(40.0 + rng.unit() * 260.0)
                    };
                    outcome["actual"] = actual;
                    outcome["predictionId"] = prediction["id"].clone();
                    out.push(outcome);
                }
                continue;
            }
        }
        out.push(event);
    }
    // Outcomes of predictions never sent.
    for k in 0..5 {
        out.push(json!({
            "id": id((seed << 24) + 0xff_0000 + k), "kind": "outcome", "time": stamp(Utc::now()),
            "clientId": "client-0", "experiment": EXPERIMENT, "inExperiment": true, "arm": "int8",
            "predictionId": id((seed << 24) + 0xfe_0000 + k), "actual": "3"
        }));
    }
    out
}

fn validated(values: &[Value]) -> Vec<Event> {
    let mut events = Vec::new();
    for chunk in values.chunks(400) {
        let batch = validate_batch(&serde_json::to_vec(&json!({"schema": 1, "events": chunk})).unwrap()).unwrap();
        assert!(batch.rejected.is_empty(), "{:?}", batch.rejected.first());
        events.extend(batch.events);
    }
    events
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn same_counts(a: &Counts, b: &Counts) -> bool {
    let ints = |c: &Counts| {
        [
            c.exposures,
            c.predictions,
            c.errors,
            c.fallbacks,
            c.confidence_n,
            c.labelled,
            c.correct,
            c.numeric_n,
        ]
    };
    let floats = |c: &Counts| [c.confidence_sum, c.abs_sum, c.sq_sum, c.truth_sum, c.truth_sq];
    ints(a) == ints(b) && floats(a).iter().zip(floats(b)).all(|(x, y)| close(*x, y))
}

fn assert_same_totals(label: &str, got: &AbTotals, want: &AbTotals) {
    let sorted = |t: &AbTotals| {
        let mut arms = t.arms.clone();
        arms.sort_by(|a, b| a.key.cmp(&b.key));
        let mut latency: Vec<_> = t
            .latency
            .iter()
            .map(|r| (r.arm.clone(), r.in_experiment, r.bucket, r.n))
            .collect();
        latency.sort();
        let mut clients = t.clients.clone();
        clients.sort();
        (arms, latency, clients)
    };
    let (got_arms, got_latency, got_clients) = sorted(got);
    let (want_arms, want_latency, want_clients) = sorted(want);
    assert_eq!(
        got_arms.iter().map(|r| &r.key).collect::<Vec<_>>(),
        want_arms.iter().map(|r| &r.key).collect::<Vec<_>>(),
        "{label}: arm keys"
    );
    for (g, w) in got_arms.iter().zip(&want_arms) {
        assert!(
            same_counts(&g.counts, &w.counts),
            "{label}: {:?}\n got {:?}\nwant {:?}",
            g.key,
            g.counts,
            w.counts
        );
    }
    assert_eq!(got_latency, want_latency, "{label}: latency buckets");
    assert_eq!(got.confusion, want.confusion, "{label}: labels against outcomes");
    assert_eq!(got_clients, want_clients, "{label}: clients");
}

#[test]
fn a_batch_read_in_one_typed_parse_gives_the_events_read_field_by_field() {
    // As sent: numbers read back from text (serde_json reads some decimals one unit in the last
    // place off what they were printed from).
    let values: Vec<Value> = events(3000, 11)
        .iter()
        .map(|v| serde_json::from_str(&v.to_string()).unwrap())
        .collect();
    let one_by_one: Vec<Event> = values.iter().map(|v| validate_event(v.clone()).unwrap()).collect();
    assert_eq!(validated(&values), one_by_one);
    // One bad event sends its batch the field-by-field way: the others come out the same.
    let mut spoiled = values[..50].to_vec();
    spoiled[17]["latencyMs"] = json!("fast");
    let batch = validate_batch(&serde_json::to_vec(&json!({"schema": 1, "events": spoiled})).unwrap()).unwrap();
    assert_eq!(batch.rejected.len(), 1);
    assert_eq!(batch.rejected[0].index, 17);
    let mut others = one_by_one[..50].to_vec();
    others.remove(17);
    assert_eq!(batch.events, others);
    // What the stores keep reads back as the same event.
    for event in &one_by_one {
        let stored: Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            stored,
            serde_json::from_str::<Value>(&event.to_json().to_string()).unwrap()
        );
        let back = validate_event(stored).unwrap();
        assert_eq!(back.body(), event.body());
    }
}

#[test]
fn deltas_merged_hold_what_their_events_hold_together() {
    let bundles = Bundles::new(Site::folder(repo()));
    let all = validated(&events(2000, 5));
    let whole = delta_of(&all, |e| observations_in(&bundles, e));
    let mut merged = Delta::default();
    for chunk in all.chunks(37) {
        merged.merge(delta_of(chunk, |e| observations_in(&bundles, e)));
    }
    // Joins across chunks are the only difference: take them out of both.
    let unjoined = |d: &Delta| {
        let mut d = d.clone();
        d.confusion.clear();
        for counts in d.arms.values_mut() {
            (counts.labelled, counts.correct, counts.numeric_n) = (0, 0, 0);
            (counts.abs_sum, counts.sq_sum, counts.truth_sum, counts.truth_sq) = (0.0, 0.0, 0.0, 0.0);
        }
        d
    };
    let (merged, whole) = (unjoined(&merged), unjoined(&whole));
    assert_same_totals(
        "merged",
        &merged.ab_totals(EXPERIMENT, None),
        &whole.ab_totals(EXPERIMENT, None),
    );
    assert_eq!(merged.latency, whole.latency);
    assert_eq!(merged.latency_hours, whole.latency_hours);
    assert_eq!(merged.drift, whole.drift);
    assert_eq!(merged.clients, whole.clients);
}

async fn check<S: EventStore>(label: &str, store: &S, want: &Delta) {
    let now = rollup::minute_of(&Utc::now());
    for since in [None, Some(now - 90), Some(now - 7)] {
        let label = format!("{label}, since {since:?}");
        let got = store.ab_totals(EXPERIMENT, since).await.unwrap();
        assert!(!got.arms.is_empty(), "{label}: nothing counted");
        if since.is_none() {
            assert!(!got.confusion.is_empty(), "{label}: no labels against outcomes");
        }
        assert_same_totals(&label, &got, &want.ab_totals(EXPERIMENT, since));
        let arms = store.arm_rows(EXPERIMENT, since).await.unwrap();
        assert_same_totals(
            &format!("{label}, arm rows"),
            &AbTotals { arms, ..got.clone() },
            &want.ab_totals(EXPERIMENT, since),
        );
        for model in ["digits-mlp-int8@1.0.0", "diabetes-linreg@1.0.0"] {
            let got = store.drift_rows(EXPERIMENT, model, since).await.unwrap();
            assert!(since.is_some() || got.len() > 20, "{label}: {model} drift {got:?}");
            assert_eq!(
                got.len(),
                want.drift_rows(EXPERIMENT, model, since).len(),
                "{label}: {model}"
            );
            let mut got = got;
            got.sort();
            assert_eq!(got, want.drift_rows(EXPERIMENT, model, since), "{label}: {model} drift");
        }
        for width in [1, 7, 60, 120] {
            let got = store.timeline_rows(EXPERIMENT, since, width).await.unwrap();
            assert_eq!(
                got,
                want.timeline_rows(EXPERIMENT, since, width),
                "{label}: timeline by {width}"
            );
        }
    }
    let reviews = store.review_rows(EXPERIMENT, None, 10_000).await.unwrap();
    assert!(!reviews.is_empty());
    assert!(
        reviews.windows(2).all(|w| w[0].event.time >= w[1].event.time),
        "{label}: newest first"
    );
}

async fn run_case<S: EventStore>(backend: &str, store: S, concurrent: bool) {
    let bundles = Bundles::new(Site::folder(repo()));
    let values = events(3000, 7);
    let all = validated(&values);
    // Outcomes come first, predictions later, in batches of varied size; a third is sent twice.
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| (all[i].kind != wasm_predict_collector::events::EventKind::Outcome, i % 7));
    let batches: Vec<Vec<Incoming>> = order
        .chunks(37)
        .map(|chunk| {
            chunk
                .iter()
                .map(|&i| Incoming {
                    event: all[i].clone(),
                    drift: observations_in(&bundles, &all[i]),
                })
                .collect()
        })
        .collect();
    let resent: Vec<Vec<Incoming>> = batches.iter().step_by(3).cloned().collect();
    let store = std::sync::Arc::new(store);
    if concurrent {
        let mut tasks = Vec::new();
        for batch in batches.into_iter().chain(resent) {
            let store = std::sync::Arc::clone(&store);
            tasks.push(tokio::spawn(async move { store.insert(batch).await.unwrap() }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    } else {
        for batch in batches.into_iter().chain(resent) {
            store.insert(batch).await.unwrap();
        }
    }
    let want = delta_of(&all, |e| observations_in(&bundles, e));
    // Outcomes whose prediction came in a concurrent transaction wait for a pass (serve makes
    // one every few seconds, the CLI's report one before it reads).
    store.settle_waiting().await.unwrap();
    check(&format!("{backend} at ingest"), store.as_ref(), &want).await;
    assert!(!store.rollups_stale().await.unwrap());
    let read = rollup::rebuild(store.as_ref(), &bundles).await.unwrap();
    assert_eq!(read, all.len() as u64);
    check(&format!("{backend} rebuilt"), store.as_ref(), &want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollups_hold_what_the_events_contribute_in_any_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        match Database::parse(&db) {
            Database::Sqlite(path) => run_case(backend, SqliteStore::open(&path).unwrap(), true).await,
            Database::Postgres(url) => run_case(backend, PostgresStore::connect(&url, 8).await.unwrap(), true).await,
        }
    }
}

/// A database written by a collector from before the rollups (schema v1): opening it marks the
/// rollups stale, and the rebuild `serve` and `report` run then makes them whole.
#[tokio::test]
async fn a_store_from_before_the_rollups_is_rebuilt_from_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let all = validated(&events(800, 3));
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        // Schema v1 as it shipped (store/migrations.rs, migration 1).
        connection
            .execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
                 INSERT INTO schema_migrations VALUES (1, 'events and alerts', '2026-11-01T00:00:00Z');
                 CREATE TABLE events (id TEXT PRIMARY KEY, kind TEXT NOT NULL, time TEXT NOT NULL, received_at TEXT NOT NULL,
                     client_id TEXT NOT NULL, experiment TEXT NOT NULL, body TEXT NOT NULL);
                 CREATE INDEX events_by_experiment ON events (experiment, kind, time);
                 CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT NULL,
                     subject TEXT NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL);",
            )
            .unwrap();
        for e in &all {
            connection
                .execute(
                    "INSERT INTO events VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                    rusqlite::params![
                        e.id,
                        e.kind.as_str(),
                        stamp(e.time),
                        e.client_id,
                        e.experiment,
                        e.to_json().to_string()
                    ],
                )
                .unwrap();
        }
    }
    let bundles = Bundles::new(Site::folder(repo()));
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.rollups_stale().await.unwrap());
    let latest = wasm_predict_collector::store::SCHEMA_VERSION;
    assert_eq!(store.schema_version().await.unwrap(), latest);
    rollup::rebuild_if_stale(&store, &bundles).await.unwrap();
    assert!(!store.rollups_stale().await.unwrap());
    let want = delta_of(&all, |e| observations_in(&bundles, e));
    check("v1 store rebuilt", &store, &want).await;
    let labelled = store.review_rows(EXPERIMENT, None, 10_000).await.unwrap();
    assert!(
        labelled.iter().any(|r| r.labelled),
        "reviews see the outcomes the migration indexed"
    );
}

async fn purge_case<S: EventStore>(backend: &str, store: S) {
    let bundles = Bundles::new(Site::folder(repo()));
    let mut all = validated(&events(2000, 11));
    // A server that reports outcomes under its own id, for predictions of client-5's.
    let extra: Vec<Value> = all
        .iter()
        .filter(|e| e.client_id == "client-5" && rollup::is_shown_prediction(e) && e.fields.output.is_some())
        .take(8)
        .enumerate()
        .map(|(k, p)| {
            json!({
                "id": id((11 << 24) + 0xfd_0000 + k as u64), "kind": "outcome", "time": stamp(p.time),
                "clientId": "crm-server", "experiment": EXPERIMENT, "inExperiment": true, "arm": "int8",
                "predictionId": p.id, "actual": "3"
            })
        })
        .collect();
    assert_eq!(extra.len(), 8, "client-5 has shown predictions");
    all.extend(validated(&extra));
    for chunk in all.chunks(50) {
        let batch = chunk
            .iter()
            .map(|e| Incoming {
                event: e.clone(),
                drift: observations_in(&bundles, e),
            })
            .collect();
        store.insert(batch).await.unwrap();
    }
    let drift_of = |e: &Event| observations_in(&bundles, e);

    let purged = store
        .purge_client(
            "client-5",
            Box::new({
                let bundles = bundles.clone();
                move |e| observations_in(&bundles, e)
            }),
        )
        .await
        .unwrap();
    let kept: Vec<Event> = all.iter().filter(|e| e.client_id != "client-5").cloned().collect();
    assert_eq!(purged, (all.len() - kept.len()) as u64, "{backend}");
    check(
        &format!("{backend} after purging a client"),
        &store,
        &delta_of(&kept, drift_of),
    )
    .await;
    let stored = store.events(EventQuery::default()).await.unwrap();
    assert_eq!(stored.len(), kept.len(), "{backend}");
    assert!(stored.iter().all(|e| e.client_id != "client-5"), "{backend}");

    let before = Utc::now() - TimeDelta::minutes(100);
    let cut = rollup::purge_cut(&before);
    let purged = store.purge_before(before).await.unwrap();
    let recent: Vec<Event> = kept
        .iter()
        .filter(|e| rollup::minute_of(&e.time) >= cut)
        .cloned()
        .collect();
    assert_eq!(purged, (kept.len() - recent.len()) as u64, "{backend}");
    assert!(recent.len() < kept.len() && !recent.is_empty());
    check(
        &format!("{backend} after purging old events"),
        &store,
        &delta_of(&recent, drift_of),
    )
    .await;
    // What is left agrees with the events: a rebuild changes nothing.
    rollup::rebuild(&store, &bundles).await.unwrap();
    check(
        &format!("{backend} rebuilt after the purges"),
        &store,
        &delta_of(&recent, drift_of),
    )
    .await;
}

#[tokio::test]
async fn purges_take_away_exactly_what_the_purged_events_contributed() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        match Database::parse(&db) {
            Database::Sqlite(path) => purge_case(backend, SqliteStore::open(&path).unwrap()).await,
            Database::Postgres(url) => purge_case(backend, PostgresStore::connect(&url, 4).await.unwrap()).await,
        }
    }
}

/// PostgreSQL: outcomes and their predictions stored by concurrent transactions that did not see
/// each other (made here by hiding the waiting outcomes from the predictions' insert) are joined
/// by `settle_waiting`, once however often it runs, and the rollups then hold what the events
/// contribute.
#[tokio::test]
async fn outcomes_left_waiting_by_a_race_are_joined_once() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, db) in backends(dir.path()).await {
        let Database::Postgres(url) = Database::parse(&db) else {
            continue;
        };
        let store = PostgresStore::connect(&url, 4).await.unwrap();
        let bundles = Bundles::new(Site::folder(repo()));
        let all = validated(&events(600, 11));
        let incoming = |events: Vec<&Event>| -> Vec<Incoming> {
            events
                .into_iter()
                .map(|e| Incoming {
                    event: e.clone(),
                    drift: observations_in(&bundles, e),
                })
                .collect()
        };
        let (outcomes, others): (Vec<&Event>, Vec<&Event>) = all
            .iter()
            .partition(|e| e.kind == wasm_predict_collector::events::EventKind::Outcome);
        store.insert(incoming(outcomes)).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let waiting: Vec<String> = client
            .query("SELECT id::text FROM events WHERE pending", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert!(!waiting.is_empty());
        client
            .execute("UPDATE events SET pending = FALSE WHERE pending", &[])
            .await
            .unwrap();
        store.insert(incoming(others)).await.unwrap();
        client
            .execute(
                "UPDATE events SET pending = TRUE WHERE id = ANY($1::text[]::uuid[])",
                &[&waiting],
            )
            .await
            .unwrap();
        let joined = store.settle_waiting().await.unwrap();
        assert!(joined > 0, "{backend}: the raced outcomes are joined");
        assert!(
            joined < waiting.len() as u64,
            "{backend}: outcomes of predictions never sent keep waiting"
        );
        assert_eq!(store.settle_waiting().await.unwrap(), 0, "{backend}: joined once");
        let want = delta_of(&all, |e| observations_in(&bundles, e));
        check(&format!("{backend} after a race"), &store, &want).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_ingest_waits_for_another_process_s_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let bundles = Bundles::new(Site::folder(repo()));
    // Another process (a CLI purge, say) holds the write lock for a while.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        other.execute_batch("COMMIT").unwrap();
    });
    let batch: Vec<Incoming> = validated(&events(40, 13))
        .into_iter()
        .map(|event| Incoming {
            drift: observations_in(&bundles, &event),
            event,
        })
        .collect();
    let stored = store.insert(batch).await.expect("the insert waits for the lock");
    assert!(stored.iter().all(|&new| new));
    holder.join().unwrap();
}

//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`. One writer
//! thread commits the batches of all concurrent requests together (group commit), so each
//! request is acknowledged after an fsync without paying one fsync per request; readers use
//! their own connection and never wait for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use chrono::{SecondsFormat, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::migrations::MIGRATIONS;
use super::rollup_sql::{self as rollup_sql, sqlite as sql};
use super::{epoch, event_from_json, Alert, DriftOf, EventQuery, EventStore, Incoming, ReviewRow};
use crate::events::{Event, EventKind};
use crate::rollup::{self, AbTotals, ArmKey, ArmRow, ConfusionRow, Delta, DriftRows, LatencyRow, TimelineRow};

/// Most requests one commit carries.
const GROUP_COMMIT: usize = 256;
/// How long a commit of several requests waits for more (a commit's cost is mostly per commit:
/// its fsync, and the rollup and index pages it writes again); a lone request does not wait.
const GROUP_GATHER: std::time::Duration = std::time::Duration::from_millis(2);
/// How often the writer looks for more requests while it gathers.
const GROUP_POLL: std::time::Duration = std::time::Duration::from_micros(200);
/// WAL pages past which the writer checkpoints by itself (SQLite's default: 1,000 pages); below
/// that the checkpointer thread copies the WAL into the database, so that commits do not wait
/// for the copy and its fsync.
const WRITER_CHECKPOINT_PAGES: i64 = 25_000;
/// Pause between the checkpointer's passes while commits keep coming.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

enum Write {
    /// Answered with the batch given back, so that the request's thread, not the writer, frees it.
    Events(Batch, oneshot::Sender<(Result<Vec<bool>>, Batch)>),
    Alert(Alert, oneshot::Sender<Result<()>>),
    /// Work in a transaction of its own (a rebuild, a purge), answering by itself.
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// A request's events as the writer takes them: the serializing of their bodies and their
/// contribution to the rollups are done before, on the request's thread, so the one writer thread
/// (what bounds the ingest) does only the SQL.
struct Batch {
    events: Vec<Incoming>,
    /// Each event's stored JSON.
    bodies: Vec<String>,
    /// What the events add to the rollups by themselves if all of them are new (joins left out).
    delta: Delta,
}

impl Batch {
    fn of(events: Vec<Incoming>) -> Self {
        let mut delta = Delta::default();
        let bodies = events
            .iter()
            .map(|Incoming { event, drift }| {
                delta.add_event(event, drift);
                event.body()
            })
            .collect();
        Self { events, bodies, delta }
    }
}

/// Events and alerts in a SQLite file.
pub struct SqliteStore {
    writes: mpsc::Sender<Write>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn open(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path).with_context(|| format!("opening SQLite database {}", path.display()))?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(anyhow!("{}: SQLite refused WAL mode (got {mode})", path.display()));
    }
    connection.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )?;
    for migration in MIGRATIONS {
        let transaction = connection.transaction()?;
        let done: Option<i64> = transaction
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |row| row.get(0),
            )
            .optional()?;
        if done.is_none() {
            transaction
                .execute_batch(migration.sqlite)
                .with_context(|| format!("migration {} ({})", migration.version, migration.name))?;
            transaction.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![migration.version, migration.name, Utc::now().to_rfc3339()],
            )?;
        }
        transaction.commit()?;
    }
    Ok(())
}

fn timestamp(time: &chrono::DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn prediction_body(connection: &Connection, id: &str) -> Result<Option<Event>> {
    let mut statement = connection.prepare_cached("SELECT body FROM events WHERE id = ?1 AND kind = 'prediction'")?;
    let body: Option<String> = statement.query_row([id], |row| row.get(0)).optional()?;
    body.map(|b| event_from_json(&b)).transpose()
}

/// Joins the outcomes waiting for any of `predictions` (new in this transaction) to them: one
/// query for a request's predictions, off the index of waiting outcomes.
fn join_waiting(connection: &Connection, predictions: &[&Event], delta: &mut Delta) -> Result<()> {
    if predictions.is_empty() {
        return Ok(());
    }
    let by_id: std::collections::HashMap<&str, &Event> = predictions.iter().map(|p| (p.id.as_str(), *p)).collect();
    let ids = serde_json::to_string(&by_id.keys().collect::<Vec<_>>())?;
    let mut statement = connection.prepare_cached(
        "SELECT id, body, prediction_id FROM events
         WHERE pending = 1 AND prediction_id IN (SELECT value FROM json_each(?1))",
    )?;
    let waiting = statement
        .query_map([ids], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut joined = connection.prepare_cached("UPDATE events SET pending = 0 WHERE id = ?1")?;
    for (id, body, prediction) in waiting {
        if let Some(prediction) = by_id.get(prediction.as_str()) {
            joined.execute([&id])?;
            delta.add_join(&event_from_json(&body)?, prediction);
        }
    }
    Ok(())
}

/// Stores `batch` and adds what it contributes to `delta`: the batch's own delta when every event
/// is new, else the new events' contributions one by one.
/// `waiting` says whether an outcome may be waiting for its prediction (one in the store when the
/// transaction began, or one this transaction stored): only then do the request's new predictions
/// look for outcomes to join, once all its events are stored.
fn insert_events(
    connection: &Connection,
    batch: &mut Batch,
    received_at: &str,
    delta: &mut Delta,
    waiting: &mut bool,
) -> Result<Vec<bool>> {
    let mut statement = connection.prepare_cached(
        "INSERT OR IGNORE INTO events (id, kind, time, received_at, client_id, experiment, body, prediction_id, pending) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut joins = Delta::default();
    let mut fresh = Vec::with_capacity(batch.events.len());
    let mut predictions = Vec::new();
    let stored = batch
        .events
        .iter()
        .zip(&batch.bodies)
        .try_for_each(|(Incoming { event: e, .. }, body)| -> Result<()> {
            let prediction = match (e.kind, &e.fields.prediction_id) {
                (EventKind::Outcome, Some(id)) => prediction_body(connection, id)?,
                _ => None,
            };
            let pending = e.kind == EventKind::Outcome && prediction.is_none();
            let changed = statement.execute(params![
                e.id,
                e.kind.as_str(),
                timestamp(&e.time),
                received_at,
                e.client_id,
                e.experiment,
                body,
                e.fields.prediction_id,
                pending,
            ])? == 1;
            fresh.push(changed);
            if changed {
                if let Some(prediction) = &prediction {
                    joins.add_join(e, prediction);
                }
                if e.kind == EventKind::Prediction {
                    predictions.push(e);
                }
                *waiting |= pending;
            }
            Ok(())
        })
        .and_then(|()| {
            if *waiting {
                join_waiting(connection, &predictions, &mut joins)
            } else {
                Ok(())
            }
        });
    // A failure part way leaves the events stored before it in the transaction: they count.
    if stored.is_ok() && fresh.iter().all(|&new| new) {
        delta.merge(std::mem::take(&mut batch.delta));
    } else {
        for (Incoming { event, drift }, _) in batch.events.iter().zip(&fresh).filter(|(_, &new)| new) {
            delta.add_event(event, drift);
        }
    }
    delta.merge(joins);
    stored.map(|()| fresh)
}

/// Adds `delta` to the rollups (`sign` −1: subtracts it; the clients rollup is then left alone).
fn flush(connection: &Connection, delta: &Delta, sign: i64) -> Result<()> {
    let real = sign as f64;
    let mut arms = connection.prepare_cached(&sql(rollup_sql::UPSERT_ARMS))?;
    for ((key, minute), c) in &delta.arms {
        arms.execute(params![
            key.experiment,
            minute,
            key.arm,
            key.model,
            key.in_experiment,
            0,
            sign * c.exposures as i64,
            sign * c.predictions as i64,
            sign * c.errors as i64,
            sign * c.fallbacks as i64,
            sign * c.confidence_n as i64,
            real * c.confidence_sum,
            sign * c.labelled as i64,
            sign * c.correct as i64,
            sign * c.numeric_n as i64,
            real * c.abs_sum,
            real * c.sq_sum,
            real * c.truth_sum,
            real * c.truth_sq,
        ])?;
    }
    for (upsert, rows) in [
        (rollup_sql::UPSERT_LATENCY, &delta.latency),
        (rollup_sql::UPSERT_LATENCY_HOURS, &delta.latency_hours),
    ] {
        let mut statement = connection.prepare_cached(&sql(upsert))?;
        for ((key, time), n) in rows {
            statement.execute(params![
                key.experiment,
                time,
                key.arm,
                key.in_experiment,
                key.bucket,
                0,
                sign * *n as i64
            ])?;
        }
    }
    if sign > 0 {
        let mut clients = connection.prepare_cached(&sql(rollup_sql::UPSERT_CLIENT))?;
        for (key, minute) in &delta.clients {
            clients.execute(params![key.experiment, key.arm, key.client, minute])?;
        }
    }
    let mut confusion = connection.prepare_cached(&sql(rollup_sql::UPSERT_CONFUSION))?;
    for ((key, hour, predicted, actual), n) in &delta.confusion {
        confusion.execute(params![
            key.experiment,
            hour,
            key.arm,
            key.model,
            key.in_experiment,
            predicted,
            actual,
            0,
            sign * *n as i64
        ])?;
    }
    let mut drift = connection.prepare_cached(&sql(rollup_sql::UPSERT_DRIFT))?;
    for ((key, hour), n) in &delta.drift {
        drift.execute(params![
            key.experiment,
            key.model,
            hour,
            key.series,
            key.bin,
            0,
            sign * *n as i64
        ])?;
    }
    Ok(())
}

/// The summed arm rows of `experiment` from the minute `from`.
fn arm_rows(connection: &Connection, experiment: &str, from: i64) -> Result<Vec<ArmRow>> {
    let mut statement = connection.prepare_cached(&sql(rollup_sql::AB_ARMS))?;
    let rows = statement
        .query_map(params![experiment, from], |row| {
            Ok(ArmRow {
                key: ArmKey {
                    experiment: experiment.to_string(),
                    arm: row.get(0)?,
                    model: row.get(1)?,
                    in_experiment: row.get(2)?,
                },
                counts: rollup_sql::counts_of(|i| row.get(i), |i| row.get(i))?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The label rows of `experiment` from the hour `from_hour`, ordered.
fn confusion_rows(connection: &Connection, experiment: &str, from_hour: i64) -> Result<Vec<ConfusionRow>> {
    let mut statement = connection.prepare_cached(&sql(rollup_sql::AB_CONFUSION))?;
    let mut rows = statement
        .query_map(params![experiment, from_hour], |row| {
            rollup_sql::confusion_of(experiment, |i| row.get(i), |i| row.get(i), |i| row.get(i))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rollup::sort_confusion(&mut rows);
    Ok(rows)
}

/// Recomputes the rollups from the events, in one transaction.
fn rebuild(connection: &mut Connection, drift: &DriftOf) -> Result<u64> {
    const CHUNK: i64 = 20_000;
    let transaction = connection.transaction()?;
    transaction.execute_batch(rollup_sql::CLEAR)?;
    transaction.execute(
        "UPDATE events SET pending = 1 WHERE kind = 'outcome' AND pending = 0",
        [],
    )?;
    let mut read = 0u64;
    let mut after = i64::MIN;
    loop {
        let mut delta = Delta::default();
        let mut statement =
            transaction.prepare_cached("SELECT rowid, body FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2")?;
        let rows = statement
            .query_map(params![after, CHUNK], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some((last, _)) = rows.last() else { break };
        after = *last;
        for (_, body) in &rows {
            let event = event_from_json(body)?;
            delta.add_event(&event, &drift(&event));
        }
        read += rows.len() as u64;
        flush(&transaction, &delta, 1)?;
    }
    loop {
        let mut delta = Delta::default();
        let mut statement = transaction.prepare_cached(
            "SELECT o.id, o.body, p.body FROM events o JOIN events p ON p.id = o.prediction_id AND p.kind = 'prediction'
             WHERE o.pending = 1 LIMIT ?1",
        )?;
        let rows = statement
            .query_map([CHUNK], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if rows.is_empty() {
            break;
        }
        let mut joined = transaction.prepare_cached("UPDATE events SET pending = 0 WHERE id = ?1")?;
        for (id, outcome, prediction) in &rows {
            delta.add_join(&event_from_json(outcome)?, &event_from_json(prediction)?);
            joined.execute([id])?;
        }
        flush(&transaction, &delta, 1)?;
    }
    transaction.execute("DELETE FROM rollup_state WHERE name = 'stale'", [])?;
    transaction.commit()?;
    Ok(read)
}

/// [`EventStore::purge_before`] in one transaction.
fn purge_before(connection: &mut Connection, before: &chrono::DateTime<Utc>) -> Result<u64> {
    let cut_minute = rollup::purge_cut(before);
    let cut = timestamp(&rollup::start_of_minute(cut_minute));
    let transaction = connection.transaction()?;
    let mut delta = Delta::default();
    let mut unjoined = Vec::new();
    {
        let mut statement = transaction.prepare(&sql(rollup_sql::JOINS_ACROSS))?;
        let rows = statement.query_map(params![cut, false], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, outcome, prediction) = row?;
            delta.add_join(&event_from_json(&outcome)?, &event_from_json(&prediction)?);
            unjoined.push(id);
        }
    }
    flush(&transaction, &delta, -1)?;
    let mut waiting = transaction.prepare_cached("UPDATE events SET pending = 1 WHERE id = ?1")?;
    for id in &unjoined {
        waiting.execute([id])?;
    }
    drop(waiting);
    let deleted = transaction.execute("DELETE FROM events WHERE time < ?1", [&cut])? as u64;
    for statement in rollup_sql::PURGE_ROLLUPS {
        transaction.execute(&sql(statement), [cut_minute])?;
    }
    transaction.commit()?;
    Ok(deleted)
}

/// [`EventStore::purge_client`] in one transaction.
fn purge_client(connection: &mut Connection, client: &str, drift: &DriftOf) -> Result<u64> {
    let transaction = connection.transaction()?;
    let own = {
        let mut statement =
            transaction.prepare("SELECT body, kind = 'outcome' AND pending = 0 FROM events WHERE client_id = ?1")?;
        let rows = statement
            .query_map([client], |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.iter()
            .map(|(body, joined)| Ok((event_from_json(body)?, *joined)))
            .collect::<Result<Vec<_>>>()?
    };
    let mut predictions = Vec::new();
    for (event, joined) in &own {
        if let (true, Some(id)) = (joined, &event.fields.prediction_id) {
            predictions.extend(prediction_body(&transaction, id)?);
        }
    }
    let others = {
        let mut statement = transaction.prepare(&sql(rollup_sql::OTHERS_JOINED))?;
        let rows = statement
            .query_map(params![client, false], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows
    };
    let other_events = others
        .iter()
        .map(|(_, body)| event_from_json(body))
        .collect::<Result<Vec<_>>>()?;
    let delta = rollup::client_contribution(&own, &predictions, &other_events, drift);
    flush(&transaction, &delta, -1)?;
    for (id, _) in &others {
        transaction.execute("UPDATE events SET pending = 1 WHERE id = ?1", [id])?;
    }
    transaction.execute("DELETE FROM rollup_clients WHERE client_id = ?1", [client])?;
    let deleted = transaction.execute("DELETE FROM events WHERE client_id = ?1", [client])? as u64;
    transaction.commit()?;
    Ok(deleted)
}

/// Commits every waiting write in one transaction and answers each; a failed commit fails all.
fn commit_group(connection: &mut Connection, mut group: Vec<Write>) {
    let received_at = timestamp(&Utc::now());
    let result = (|| -> Result<Vec<Result<Vec<bool>>>> {
        // Immediate: the write lock is taken (waiting for another process's transaction up to the
        // busy timeout) before the first read; a read transaction made a write one fails at once.
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(group.len());
        let mut delta = Delta::default();
        let mut waiting = transaction
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE pending = 1)")?
            .query_row([], |row| row.get::<_, bool>(0))?;
        for write in &mut group {
            outcomes.push(match write {
                // Most errors undo their own statement only, and the request's earlier events
                // commit with the group (counted in `delta`); some (a full disk) roll the whole
                // transaction back, and then nothing may go on in it.
                Write::Events(batch, _) => {
                    match insert_events(&transaction, batch, &received_at, &mut delta, &mut waiting) {
                        Err(error) if transaction.is_autocommit() => {
                            return Err(error.context("SQLite rolled the transaction back"))
                        }
                        stored => stored,
                    }
                }
                Write::Alone(..) => Ok(Vec::new()),
                Write::Alert(alert, _) => transaction
                    .execute(
                        "INSERT INTO alerts (time, kind, subject, message, details) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            timestamp(&alert.time),
                            alert.kind,
                            alert.subject,
                            alert.message,
                            alert.details.to_string()
                        ],
                    )
                    .map(|_| Vec::new())
                    .map_err(Into::into),
            });
        }
        flush(&transaction, &delta, 1)?;
        transaction.commit()?;
        Ok(outcomes)
    })();
    match result {
        Ok(outcomes) => {
            for (write, outcome) in group.into_iter().zip(outcomes) {
                match write {
                    Write::Events(batch, reply) => drop(reply.send((outcome, batch))),
                    Write::Alert(_, reply) => drop(reply.send(outcome.map(|_| ()))),
                    Write::Alone(..) => {}
                }
            }
        }
        Err(error) => {
            let message = format!("{error:#}");
            for write in group {
                match write {
                    Write::Events(batch, reply) => drop(reply.send((Err(anyhow!("commit failed: {message}")), batch))),
                    Write::Alert(_, reply) => drop(reply.send(Err(anyhow!("commit failed: {message}")))),
                    Write::Alone(..) => {}
                }
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies pending migrations, and starts
    /// the writer thread.
    pub fn open(path: &Path) -> Result<Self> {
        let mut writer = open(path)?;
        migrate(&mut writer)?;
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let reader = open(path)?;
        let checkpointer = open(path)?;
        let (committed, commits) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while commits.recv().is_ok() {
                    if let Err(error) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!("SQLite checkpoint: {error}");
                    }
                    std::thread::sleep(CHECKPOINT_PAUSE);
                }
            })?;
        let (writes, mut queue) = mpsc::channel::<Write>(4096);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Some(first) = queue.blocking_recv() {
                    if let Write::Alone(work) = first {
                        work(&mut writer);
                        continue;
                    }
                    let mut group = vec![first];
                    let gather_until = std::time::Instant::now() + GROUP_GATHER;
                    while group.len() < GROUP_COMMIT {
                        match queue.try_recv() {
                            Ok(Write::Alone(work)) => {
                                commit_group(&mut writer, std::mem::take(&mut group));
                                work(&mut writer);
                                break;
                            }
                            Ok(write) => group.push(write),
                            Err(mpsc::error::TryRecvError::Empty)
                                if group.len() > 1 && std::time::Instant::now() < gather_until =>
                            {
                                std::thread::sleep(GROUP_POLL);
                            }
                            Err(_) => break,
                        }
                    }
                    if !group.is_empty() {
                        commit_group(&mut writer, group);
                    }
                    let _ = committed.try_send(());
                }
            })?;
        Ok(Self {
            writes,
            reader: Arc::new(Mutex::new(reader)),
            path: path.to_path_buf(),
        })
    }

    /// Runs `work` on the writer's connection between group commits.
    async fn alone<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Write::Alone(Box::new(move |connection| {
                drop(reply.send(work(connection)))
            })))
            .await
            .map_err(|_| anyhow!("the SQLite writer has stopped"))?;
        answer.await.map_err(|_| anyhow!("the SQLite writer has stopped"))?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T: Send + 'static>(&self, work: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let connection = reader
                .lock()
                .map_err(|_| anyhow!("the SQLite reader lock is poisoned"))?;
            work(&connection)
        })
        .await?
    }
}

impl EventStore for SqliteStore {
    async fn insert(&self, events: Vec<Incoming>) -> Result<Vec<bool>> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Write::Events(Batch::of(events), reply))
            .await
            .map_err(|_| anyhow!("the SQLite writer stopped"))?;
        answer
            .await
            .map(|(stored, _batch)| stored)
            .map_err(|_| anyhow!("the SQLite writer stopped"))?
    }

    async fn settle_waiting(&self) -> Result<u64> {
        Ok(0)
    }

    async fn events(&self, query: EventQuery) -> Result<Vec<Event>> {
        self.read(move |connection| {
            let mut sql = String::from("SELECT body FROM events WHERE 1 = 1");
            let mut values: Vec<String> = Vec::new();
            if let Some(experiment) = &query.experiment {
                values.push(experiment.clone());
                sql.push_str(&format!(" AND experiment = ?{}", values.len()));
            }
            if !query.kinds.is_empty() {
                let marks: Vec<String> = query
                    .kinds
                    .iter()
                    .map(|kind| {
                        values.push(kind.as_str().to_string());
                        format!("?{}", values.len())
                    })
                    .collect();
                sql.push_str(&format!(" AND kind IN ({})", marks.join(", ")));
            }
            if let Some(since) = &query.since {
                values.push(timestamp(since));
                sql.push_str(&format!(" AND time >= ?{}", values.len()));
            }
            match query.limit {
                Some(limit) => {
                    sql = format!("SELECT body FROM ({sql} ORDER BY time DESC, id DESC LIMIT {limit}) ORDER BY 1")
                }
                None => sql.push_str(" ORDER BY time, id"),
            }
            let mut statement = connection.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values.iter()), |row| row.get::<_, String>(0))?;
            let mut events = rows.map(|row| event_from_json(&row?)).collect::<Result<Vec<_>>>()?;
            events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            Ok(events)
        })
        .await
    }

    async fn arm_rows(&self, experiment: &str, since: Option<i64>) -> Result<Vec<ArmRow>> {
        let experiment = experiment.to_string();
        let from = since.unwrap_or(i64::MIN);
        self.read(move |connection| arm_rows(connection, &experiment, from))
            .await
    }

    async fn confusion_rows(&self, experiment: &str, since: Option<i64>) -> Result<Vec<ConfusionRow>> {
        let experiment = experiment.to_string();
        let from_hour = since.map_or(i64::MIN, rollup::hour_of);
        self.read(move |connection| confusion_rows(connection, &experiment, from_hour))
            .await
    }

    async fn ab_totals(&self, experiment: &str, since: Option<i64>) -> Result<AbTotals> {
        let experiment = experiment.to_string();
        let from = since.unwrap_or(i64::MIN);
        let from_hour = since.map_or(i64::MIN, rollup::hour_of);
        self.read(move |connection| {
            let arms = arm_rows(connection, &experiment, from)?;
            let mut statement = connection.prepare_cached(&sql(rollup_sql::AB_LATENCY))?;
            let latency = statement
                .query_map(params![experiment, from_hour], |row| {
                    Ok(LatencyRow {
                        arm: row.get(0)?,
                        in_experiment: row.get(1)?,
                        bucket: row.get(2)?,
                        n: row.get::<_, i64>(3)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut statement = connection.prepare_cached(&sql(rollup_sql::AB_CLIENTS))?;
            let clients = statement
                .query_map(params![experiment, from], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(AbTotals {
                arms,
                latency,
                clients,
                confusion: confusion_rows(connection, &experiment, from_hour)?,
            })
        })
        .await
    }

    async fn drift_rows(&self, experiment: &str, model: &str, since: Option<i64>) -> Result<DriftRows> {
        let (experiment, model) = (experiment.to_string(), model.to_string());
        let from = since.map_or(i64::MIN, rollup::hour_of);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&sql(rollup_sql::DRIFT))?;
            let rows = statement
                .query_map(params![experiment, model, from], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn timeline_rows(&self, experiment: &str, since: Option<i64>, width: i64) -> Result<Vec<TimelineRow>> {
        let experiment = experiment.to_string();
        let from = since.unwrap_or(i64::MIN);
        let width = width.max(1);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&sql(rollup_sql::TIMELINE_COUNTS))?;
            let counts = statement
                .query_map(params![experiment, from, width], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)? as u64,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let (latency_sql, latency_from) = if rollup::hourly(width) {
                (
                    rollup_sql::TIMELINE_LATENCY_HOURS,
                    since.map_or(i64::MIN, rollup::hour_of),
                )
            } else {
                (rollup_sql::TIMELINE_LATENCY, from)
            };
            let mut statement = connection.prepare_cached(&sql(latency_sql))?;
            let latency = statement
                .query_map(params![experiment, latency_from, width], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i32>(2)?,
                        row.get::<_, i64>(3)? as u64,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rollup::timeline_of(counts, latency))
        })
        .await
    }

    async fn experiments(&self) -> Result<Vec<super::StoredExperiment>> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(rollup_sql::EXPERIMENTS)?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(super::stored_experiments(rows))
        })
        .await
    }

    async fn first_minute(&self, experiment: &str) -> Result<Option<i64>> {
        let experiment = experiment.to_string();
        self.read(move |connection| {
            Ok(connection.query_row(&sql(rollup_sql::FIRST_MINUTE), [experiment], |row| row.get(0))?)
        })
        .await
    }

    async fn review_rows(
        &self,
        experiment: &str,
        since: Option<chrono::DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<ReviewRow>> {
        let experiment = experiment.to_string();
        let from = timestamp(&since.unwrap_or_else(epoch));
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT r.body, EXISTS (SELECT 1 FROM events o WHERE o.prediction_id = r.prediction_id AND o.kind = 'outcome')
                 FROM events r WHERE r.experiment = ?1 AND r.kind = 'review' AND r.time >= ?2
                 ORDER BY r.time DESC, r.id DESC LIMIT ?3",
            )?;
            let rows = statement
                .query_map(params![experiment, from, limit as i64], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(body, labelled)| Ok(ReviewRow { event: event_from_json(&body)?, labelled }))
                .collect()
        })
        .await
    }

    async fn rollups_stale(&self) -> Result<bool> {
        self.read(|connection| {
            Ok(connection
                .query_row("SELECT 1 FROM rollup_state WHERE name = 'stale'", [], |_| Ok(()))
                .optional()?
                .is_some())
        })
        .await
    }

    async fn rebuild_rollups(&self, drift: DriftOf) -> Result<u64> {
        self.alone(move |connection| rebuild(connection, &drift)).await
    }

    async fn purge_before(&self, before: chrono::DateTime<Utc>) -> Result<u64> {
        self.alone(move |connection| purge_before(connection, &before)).await
    }

    async fn purge_client(&self, client: &str, drift: DriftOf) -> Result<u64> {
        let client = client.to_string();
        self.alone(move |connection| purge_client(connection, &client, &drift))
            .await
    }

    async fn count(&self) -> Result<u64> {
        self.read(|connection| {
            Ok(connection.query_row("SELECT COUNT(*) FROM events", [], |row| row.get::<_, i64>(0))? as u64)
        })
        .await
    }

    async fn record_alert(&self, alert: Alert) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Write::Alert(alert, reply))
            .await
            .map_err(|_| anyhow!("the SQLite writer stopped"))?;
        answer.await.map_err(|_| anyhow!("the SQLite writer stopped"))?
    }

    async fn alerts(&self, limit: usize) -> Result<Vec<Alert>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare("SELECT time, kind, subject, message, details FROM alerts ORDER BY id DESC LIMIT ?1")?;
            let rows = statement.query_map([limit as i64], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get::<_, String>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (time, kind, subject, message, details) = row?;
                Ok(Alert {
                    time: chrono::DateTime::parse_from_rfc3339(&time)?.with_timezone(&Utc),
                    kind,
                    subject,
                    message,
                    details: serde_json::from_str(&details)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn schema_version(&self) -> Result<i64> {
        self.read(|connection| {
            Ok(
                connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| {
                    row.get(0)
                })?,
            )
        })
        .await
    }
}

//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`. One writer
//! thread commits the batches of all concurrent requests together (group commit), so each
//! request is acknowledged after an fsync without paying one fsync per request; readers use
//! their own connection and never wait for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use chrono::{SecondsFormat, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::migrations::MIGRATIONS;
use super::{event_from_json, Alert, EventQuery, EventStore};
use crate::events::Event;

/// Most requests one commit carries.
const GROUP_COMMIT: usize = 256;

enum Write {
    Events(Vec<Event>, oneshot::Sender<Result<Vec<bool>>>),
    Alert(Alert, oneshot::Sender<Result<()>>),
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

fn insert_events(connection: &Connection, events: &[Event], received_at: &str) -> Result<Vec<bool>> {
    let mut statement = connection.prepare_cached(
        "INSERT OR IGNORE INTO events (id, kind, time, received_at, client_id, experiment, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    events
        .iter()
        .map(|e| {
            let body = e.to_json().to_string();
            let changed = statement.execute(params![
                e.id,
                e.kind.as_str(),
                timestamp(&e.time),
                received_at,
                e.client_id,
                e.experiment,
                body
            ])?;
            Ok(changed == 1)
        })
        .collect()
}

/// Commits every waiting write in one transaction and answers each; a failed commit fails all.
fn commit_group(connection: &mut Connection, group: Vec<Write>) {
    let received_at = timestamp(&Utc::now());
    let result = (|| -> Result<Vec<Result<Vec<bool>>>> {
        let transaction = connection.transaction()?;
        let mut outcomes = Vec::with_capacity(group.len());
        for write in &group {
            outcomes.push(match write {
                Write::Events(events, _) => insert_events(&transaction, events, &received_at),
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
        transaction.commit()?;
        Ok(outcomes)
    })();
    match result {
        Ok(outcomes) => {
            for (write, outcome) in group.into_iter().zip(outcomes) {
                match write {
                    Write::Events(_, reply) => drop(reply.send(outcome)),
                    Write::Alert(_, reply) => drop(reply.send(outcome.map(|_| ()))),
                }
            }
        }
        Err(error) => {
            let message = format!("{error:#}");
            for write in group {
                match write {
                    Write::Events(_, reply) => drop(reply.send(Err(anyhow!("commit failed: {message}")))),
                    Write::Alert(_, reply) => drop(reply.send(Err(anyhow!("commit failed: {message}")))),
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
        let reader = open(path)?;
        let (writes, mut queue) = mpsc::channel::<Write>(4096);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Some(first) = queue.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < GROUP_COMMIT {
                        match queue.try_recv() {
                            Ok(write) => group.push(write),
                            Err(_) => break,
                        }
                    }
                    commit_group(&mut writer, group);
                }
            })?;
        Ok(Self {
            writes,
            reader: Arc::new(Mutex::new(reader)),
            path: path.to_path_buf(),
        })
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
    async fn insert(&self, events: Vec<Event>) -> Result<Vec<bool>> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Write::Events(events, reply))
            .await
            .map_err(|_| anyhow!("the SQLite writer stopped"))?;
        answer.await.map_err(|_| anyhow!("the SQLite writer stopped"))?
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

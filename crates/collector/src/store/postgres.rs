//! PostgreSQL, for several stateless collectors behind a load balancer sharing one database.
//! Each request commits its own transaction; `ON CONFLICT DO NOTHING` keeps each event id once
//! whichever collector receives it first. Migrations take an advisory lock, so collectors that
//! start together apply each migration once.

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::{Config, Pool, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use super::migrations::MIGRATIONS;
use super::{Alert, EventQuery, EventStore};
use crate::events::Event;

/// An arbitrary constant naming this schema's migration lock.
const MIGRATION_LOCK: i64 = 0x7761_736d_7072;

/// Events and alerts in PostgreSQL.
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`), with a pool of `size` connections, and
    /// applies pending migrations.
    pub async fn connect(url: &str, size: usize) -> Result<Self> {
        let mut config = Config::new();
        config.url = Some(url.to_string());
        config.pool = Some(deadpool_postgres::PoolConfig::new(size));
        let pool = config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .context("PostgreSQL pool")?;
        let store = Self { pool };
        store
            .migrate()
            .await
            .with_context(|| format!("migrating {}", redact(url)))?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await?;
        for migration in MIGRATIONS {
            let done = transaction
                .query_opt(
                    "SELECT 1 FROM schema_migrations WHERE version = $1",
                    &[&migration.version],
                )
                .await?;
            if done.is_none() {
                transaction
                    .batch_execute(migration.postgres)
                    .await
                    .with_context(|| format!("migration {} ({})", migration.version, migration.name))?;
                transaction
                    .execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        &[&migration.version, &migration.name],
                    )
                    .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

impl EventStore for PostgresStore {
    async fn insert(&self, events: Vec<Event>) -> Result<Vec<bool>> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let statement = transaction
            .prepare_cached(
                "INSERT INTO events (id, kind, time, client_id, experiment, body) VALUES ($1::text::uuid, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let mut fresh = Vec::with_capacity(events.len());
        for event in &events {
            let body = event.to_json();
            let params: [&(dyn ToSql + Sync); 6] = [
                &event.id,
                &event.kind.as_str(),
                &event.time,
                &event.client_id,
                &event.experiment,
                &body,
            ];
            fresh.push(transaction.execute(&statement, &params).await? == 1);
        }
        transaction.commit().await?;
        Ok(fresh)
    }

    async fn events(&self, query: EventQuery) -> Result<Vec<Event>> {
        let client = self.pool.get().await?;
        let mut sql = String::from("SELECT body FROM events WHERE TRUE");
        let kinds: Vec<String> = query.kinds.iter().map(|k| k.as_str().to_string()).collect();
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(experiment) = query.experiment {
            params.push(Box::new(experiment));
            sql.push_str(&format!(" AND experiment = ${}", params.len()));
        }
        if !kinds.is_empty() {
            params.push(Box::new(kinds));
            sql.push_str(&format!(" AND kind = ANY(${})", params.len()));
        }
        if let Some(since) = query.since {
            params.push(Box::new(since));
            sql.push_str(&format!(" AND time >= ${}", params.len()));
        }
        match query.limit {
            Some(limit) => sql.push_str(&format!(" ORDER BY time DESC, id DESC LIMIT {limit}")),
            None => sql.push_str(" ORDER BY time, id"),
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&sql, &refs).await?;
        let mut events = rows
            .iter()
            .map(|row| {
                let body: serde_json::Value = row.try_get(0)?;
                crate::events::validate_event(body).map_err(|e| anyhow!("stored event no longer valid: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        Ok(events)
    }

    async fn count(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let count: i64 = client.query_one("SELECT COUNT(*) FROM events", &[]).await?.try_get(0)?;
        Ok(count as u64)
    }

    async fn record_alert(&self, alert: Alert) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO alerts (time, kind, subject, message, details) VALUES ($1, $2, $3, $4, $5)",
                &[&alert.time, &alert.kind, &alert.subject, &alert.message, &alert.details],
            )
            .await?;
        Ok(())
    }

    async fn alerts(&self, limit: usize) -> Result<Vec<Alert>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT time, kind, subject, message, details FROM alerts ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Alert {
                    time: row.try_get::<_, DateTime<Utc>>(0)?,
                    kind: row.try_get(1)?,
                    subject: row.try_get(2)?,
                    message: row.try_get(3)?,
                    details: row.try_get(4)?,
                })
            })
            .collect()
    }

    async fn schema_version(&self) -> Result<i64> {
        let client = self.pool.get().await?;
        Ok(client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            .await?
            .try_get(0)?)
    }
}

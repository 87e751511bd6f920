//! Versioned schema migrations, applied in order, each once, recorded in `schema_migrations`.

/// One migration: its version, a name, and its SQL for each backend.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, oldest first. Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events and alerts",
    sqlite: "
            CREATE TABLE events (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                time TEXT NOT NULL,
                received_at TEXT NOT NULL,
                client_id TEXT NOT NULL,
                experiment TEXT NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX events_by_experiment ON events (experiment, kind, time);
            CREATE TABLE alerts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time TEXT NOT NULL,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                message TEXT NOT NULL,
                details TEXT NOT NULL
            );",
    postgres: "
            CREATE TABLE events (
                id UUID PRIMARY KEY,
                kind TEXT NOT NULL,
                time TIMESTAMPTZ NOT NULL,
                received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                client_id TEXT NOT NULL,
                experiment TEXT NOT NULL,
                body JSONB NOT NULL
            );
            CREATE INDEX events_by_experiment ON events (experiment, kind, time);
            CREATE TABLE alerts (
                id BIGSERIAL PRIMARY KEY,
                time TIMESTAMPTZ NOT NULL,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                message TEXT NOT NULL,
                details JSONB NOT NULL
            );",
}];

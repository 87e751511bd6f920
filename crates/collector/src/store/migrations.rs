//! Versioned schema migrations, applied in order, each once, recorded in `schema_migrations`.

/// One migration: its version, a name, and its SQL for each backend.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, oldest first. Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
        version: 2,
        name: "rollups",
        sqlite: "
            ALTER TABLE events ADD COLUMN prediction_id TEXT;
            ALTER TABLE events ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
            UPDATE events SET prediction_id = json_extract(body, '$.predictionId') WHERE kind IN ('outcome', 'review');
            CREATE INDEX events_by_prediction ON events (prediction_id) WHERE prediction_id IS NOT NULL;
            CREATE INDEX events_pending ON events (prediction_id) WHERE pending = 1;
            CREATE INDEX events_by_time ON events (time);
            CREATE TABLE rollup_arms (
                experiment TEXT NOT NULL, minute INTEGER NOT NULL, arm TEXT NOT NULL, model TEXT NOT NULL,
                in_experiment INTEGER NOT NULL, shard INTEGER NOT NULL,
                exposures INTEGER NOT NULL, predictions INTEGER NOT NULL, errors INTEGER NOT NULL,
                fallbacks INTEGER NOT NULL, confidence_n INTEGER NOT NULL, confidence_sum REAL NOT NULL,
                labelled INTEGER NOT NULL, correct INTEGER NOT NULL, numeric_n INTEGER NOT NULL,
                abs_sum REAL NOT NULL, sq_sum REAL NOT NULL, truth_sum REAL NOT NULL, truth_sq REAL NOT NULL,
                PRIMARY KEY (experiment, minute, arm, model, in_experiment, shard)
            ) WITHOUT ROWID;
            CREATE TABLE rollup_latency (
                experiment TEXT NOT NULL, minute INTEGER NOT NULL, arm TEXT NOT NULL, in_experiment INTEGER NOT NULL,
                bucket INTEGER NOT NULL, shard INTEGER NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (experiment, minute, arm, in_experiment, bucket, shard)
            ) WITHOUT ROWID;
            CREATE TABLE rollup_clients (
                experiment TEXT NOT NULL, arm TEXT NOT NULL, client_id TEXT NOT NULL, last_minute INTEGER NOT NULL,
                PRIMARY KEY (experiment, arm, client_id)
            ) WITHOUT ROWID;
            CREATE INDEX rollup_clients_by_minute ON rollup_clients (experiment, last_minute, arm);
            CREATE TABLE rollup_drift (
                experiment TEXT NOT NULL, model TEXT NOT NULL, hour INTEGER NOT NULL, series INTEGER NOT NULL,
                bin INTEGER NOT NULL, shard INTEGER NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (experiment, model, hour, series, bin, shard)
            ) WITHOUT ROWID;
            CREATE TABLE rollup_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO rollup_state (name, value)
                SELECT 'stale', 'events stored before the rollups existed' WHERE EXISTS (SELECT 1 FROM events);",
        postgres: "
            ALTER TABLE events ADD COLUMN prediction_id UUID;
            ALTER TABLE events ADD COLUMN pending BOOLEAN NOT NULL DEFAULT FALSE;
            UPDATE events SET prediction_id = (body->>'predictionId')::uuid WHERE kind IN ('outcome', 'review');
            CREATE INDEX events_by_prediction ON events (prediction_id) WHERE prediction_id IS NOT NULL;
            CREATE INDEX events_pending ON events (prediction_id) WHERE pending;
            CREATE INDEX events_by_time ON events USING BRIN (time);
            CREATE TABLE rollup_arms (
                experiment TEXT NOT NULL, minute BIGINT NOT NULL, arm TEXT NOT NULL, model TEXT NOT NULL,
                in_experiment BOOLEAN NOT NULL, shard SMALLINT NOT NULL,
                exposures BIGINT NOT NULL, predictions BIGINT NOT NULL, errors BIGINT NOT NULL,
                fallbacks BIGINT NOT NULL, confidence_n BIGINT NOT NULL, confidence_sum DOUBLE PRECISION NOT NULL,
                labelled BIGINT NOT NULL, correct BIGINT NOT NULL, numeric_n BIGINT NOT NULL,
                abs_sum DOUBLE PRECISION NOT NULL, sq_sum DOUBLE PRECISION NOT NULL,
                truth_sum DOUBLE PRECISION NOT NULL, truth_sq DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (experiment, minute, arm, model, in_experiment, shard)
            );
            CREATE TABLE rollup_latency (
                experiment TEXT NOT NULL, minute BIGINT NOT NULL, arm TEXT NOT NULL, in_experiment BOOLEAN NOT NULL,
                bucket INTEGER NOT NULL, shard SMALLINT NOT NULL, n BIGINT NOT NULL,
                PRIMARY KEY (experiment, minute, arm, in_experiment, bucket, shard)
            );
            CREATE TABLE rollup_clients (
                experiment TEXT NOT NULL, arm TEXT NOT NULL, client_id TEXT NOT NULL, last_minute BIGINT NOT NULL,
                PRIMARY KEY (experiment, arm, client_id)
            );
            CREATE INDEX rollup_clients_by_minute ON rollup_clients (experiment, last_minute, arm);
            CREATE TABLE rollup_drift (
                experiment TEXT NOT NULL, model TEXT NOT NULL, hour BIGINT NOT NULL, series INTEGER NOT NULL,
                bin INTEGER NOT NULL, shard SMALLINT NOT NULL, n BIGINT NOT NULL,
                PRIMARY KEY (experiment, model, hour, series, bin, shard)
            );
            CREATE TABLE rollup_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO rollup_state (name, value)
                SELECT 'stale', 'events stored before the rollups existed' WHERE EXISTS (SELECT 1 FROM events);",
    },
    Migration {
        version: 3,
        name: "hourly latency rollup",
        sqlite: "
            CREATE TABLE rollup_latency_hours (
                experiment TEXT NOT NULL, hour INTEGER NOT NULL, arm TEXT NOT NULL, in_experiment INTEGER NOT NULL,
                bucket INTEGER NOT NULL, shard INTEGER NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (experiment, hour, arm, in_experiment, bucket, shard)
            ) WITHOUT ROWID;
            INSERT OR IGNORE INTO rollup_state (name, value)
                SELECT 'stale', 'events stored before the hourly latency rollup existed' WHERE EXISTS (SELECT 1 FROM events);",
        postgres: "
            CREATE TABLE rollup_latency_hours (
                experiment TEXT NOT NULL, hour BIGINT NOT NULL, arm TEXT NOT NULL, in_experiment BOOLEAN NOT NULL,
                bucket INTEGER NOT NULL, shard SMALLINT NOT NULL, n BIGINT NOT NULL,
                PRIMARY KEY (experiment, hour, arm, in_experiment, bucket, shard)
            );
            INSERT INTO rollup_state (name, value)
                SELECT 'stale', 'events stored before the hourly latency rollup existed' WHERE EXISTS (SELECT 1 FROM events)
                ON CONFLICT (name) DO NOTHING;",
    },
    Migration {
        version: 4,
        name: "purge by client; outcomes left waiting by time",
        sqlite: "
            CREATE INDEX events_by_client ON events (client_id);
            CREATE INDEX rollup_clients_by_client ON rollup_clients (client_id);",
        postgres: "
            CREATE INDEX events_by_client ON events (client_id);
            CREATE INDEX rollup_clients_by_client ON rollup_clients (client_id);
            CREATE INDEX events_pending_received ON events (received_at) WHERE pending;",
    },
    Migration {
        version: 5,
        name: "labels against outcomes, for precision and recall",
        sqlite: "
            CREATE TABLE rollup_confusion (
                experiment TEXT NOT NULL, hour INTEGER NOT NULL, arm TEXT NOT NULL, model TEXT NOT NULL,
                in_experiment INTEGER NOT NULL, predicted TEXT NOT NULL, actual TEXT NOT NULL,
                shard INTEGER NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (experiment, hour, arm, model, in_experiment, predicted, actual, shard)
            ) WITHOUT ROWID;
            INSERT OR IGNORE INTO rollup_state (name, value)
                SELECT 'stale', 'events stored before the label rollup existed' WHERE EXISTS (SELECT 1 FROM events);",
        postgres: "
            CREATE TABLE rollup_confusion (
                experiment TEXT NOT NULL, hour BIGINT NOT NULL, arm TEXT NOT NULL, model TEXT NOT NULL,
                in_experiment BOOLEAN NOT NULL, predicted TEXT NOT NULL, actual TEXT NOT NULL,
                shard SMALLINT NOT NULL, n BIGINT NOT NULL,
                PRIMARY KEY (experiment, hour, arm, model, in_experiment, predicted, actual, shard)
            );
            INSERT INTO rollup_state (name, value)
                SELECT 'stale', 'events stored before the label rollup existed' WHERE EXISTS (SELECT 1 FROM events)
                ON CONFLICT (name) DO NOTHING;",
    },
];

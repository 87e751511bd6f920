//! `serve`: opens the store, starts the watchdog and the HTTP server, prints where things are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::TimeDelta;

use crate::alerts::{self, Watchdog};
use crate::experiment::{Bundles, Configs};
use crate::http::{router, App};
use crate::rate_limit::RateLimiter;
use crate::site::Site;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::EventStore;

/// Where events are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Database {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite:PATH` or a plain path is SQLite.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_string())
        } else {
            Self::Sqlite(PathBuf::from(
                text.strip_prefix("sqlite://")
                    .or_else(|| text.strip_prefix("sqlite:"))
                    .unwrap_or(text),
            ))
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// The served files: built in, or from folders.
    pub site: Site,
    /// The database.
    pub database: Database,
    /// The experiment config served to the shell (the site's `www/experiment.json` when `None`).
    pub experiment: Option<PathBuf>,
    /// A folder of more experiment configs to judge (other experiments in the same store).
    pub experiments_dir: Option<PathBuf>,
    /// The admin token (reports, dashboard).
    pub admin_token: String,
    /// Whether the operator supplied the token (then it is never printed: logs are collected).
    pub token_supplied: bool,
    /// Origins allowed to post events from other sites.
    pub cors_origins: Vec<String>,
    /// Ingest requests per second per address and per client id (0: no limit), and the burst.
    pub rate_limit: (f64, f64),
    /// Proxies (addresses or networks) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The now-test watchdog.
    pub watchdog: Watchdog,
    /// PostgreSQL pool size.
    pub pool_size: usize,
    /// Log one line per request.
    pub log_requests: bool,
}

/// A random admin token: 128 bits, hex.
pub fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for the admin token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs the collector until Ctrl-C.
pub async fn serve(options: ServeOptions) -> Result<()> {
    options.site.check()?;
    let configs = Configs {
        served: options.experiment.clone(),
        site: options.site.clone(),
        folder: options.experiments_dir.clone(),
    };
    let (_, broken) = configs.all()?;
    for b in broken {
        eprintln!("warning: experiment config {} is not used: {}", b.path, b.error);
    }
    match &options.database {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(path)?;
            run(store, &format!("SQLite {}", path.display()), options).await
        }
        Database::Postgres(url) => {
            let store = PostgresStore::connect(url, options.pool_size).await?;
            run(store, "PostgreSQL", options).await
        }
    }
}

async fn run<S: EventStore>(store: S, described: &str, options: ServeOptions) -> Result<()> {
    if crate::prometheus::handle().is_none() {
        tracing::warn!("metrics: another recorder is installed; /metrics will answer 500");
    }
    let version = store.schema_version().await?;
    let bundles = Bundles::new(options.site.clone());
    crate::rollup::rebuild_if_stale(&store, &bundles).await?;
    store.settle_waiting().await?;
    let app = Arc::new(App {
        store,
        site: options.site.clone(),
        experiments: Configs {
            served: options.experiment.clone(),
            site: options.site.clone(),
            folder: options.experiments_dir.clone(),
        },
        bundles,
        admin_token: options.admin_token.clone(),
        limiter: RateLimiter::new(options.rate_limit.0, options.rate_limit.1),
        trusted_proxies: options.trusted_proxies.clone(),
        log_requests: options.log_requests,
    });
    let routes = router(Arc::clone(&app), &options.cors_origins)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("listening on {}", options.addr))?;
    let addr = listener.local_addr()?;
    println!("wasm-predict collector: {described} (schema v{version})");
    println!("  demo:      http://{addr}/www/index.html");
    if options.token_supplied {
        println!("  dashboard: http://{addr}/www/dashboard.html (the admin token you supplied)");
    } else {
        println!(
            "  dashboard: http://{addr}/www/dashboard.html#token={}",
            options.admin_token
        );
    }
    println!("  ingest:    POST http://{addr}/v1/events");
    let watchdog = tokio::spawn(alerts::run(Arc::clone(&app), options.watchdog.clone()));
    let settler = tokio::spawn(settle_every(Arc::clone(&app)));
    axum::serve(listener, routes.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop_signal())
        .await?;
    for task in [watchdog, settler] {
        task.abort();
        let _ = task.await;
    }
    tracing::info!("stopped: every request in flight was answered");
    Ok(())
}

/// How often `serve` joins the outcomes left waiting by concurrent transactions
/// ([`EventStore::settle_waiting`]): an outcome whose prediction was stored beside it, in a
/// transaction that did not see it, counts in the reports at most this much later.
pub const SETTLE_EVERY: Duration = Duration::from_secs(5);

/// Runs [`EventStore::settle_waiting`] every [`SETTLE_EVERY`] until the process ends, off the
/// requests' path (a read after a bulk load would otherwise look at its waiting outcomes again).
async fn settle_every<S: EventStore>(app: Arc<App<S>>) {
    // serve has just made a pass: the first is one period away.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + SETTLE_EVERY, SETTLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = app.store.settle_waiting().await {
            tracing::warn!("joining the outcomes left waiting: {e:#}");
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, Docker, Kubernetes): the server then stops
/// accepting, answers the requests in flight (each after its commit) and returns.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => drop(tokio::signal::ctrl_c().await),
        }
    }
    #[cfg(not(unix))]
    drop(tokio::signal::ctrl_c().await);
    tracing::info!("stopping: draining requests in flight");
}

/// Parses `30s`, `5m`, `2h`, `1d` (or plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len()),
    );
    let value: f64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a duration like 30s, 5m, 2h, 1d"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        _ => bail!("`{text}`: the unit must be s, m, h or d"),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        bail!("`{text}` must be positive");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A window as a chrono delta.
pub fn window(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::days(3650))
}

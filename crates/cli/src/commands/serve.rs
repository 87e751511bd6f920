//! `wasm-predict serve`: serve the demo, the package, the bundles, the ingest API, the reports and
//! the dashboard.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Result;
use wasm_predict_collector::alerts::Watchdog;
use wasm_predict_collector::serve::{parse_duration, random_token, serve, window, Database, ServeOptions};

use crate::args::Sources;

/// The arguments of `wasm-predict serve`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub sources: Sources,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080", env = "WASM_PREDICT_ADDR")]
    pub addr: SocketAddr,
    /// Bearer token for the reports and the dashboard (random when not given).
    #[arg(long, env = "WASM_PREDICT_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// An origin allowed to post events cross-site (repeatable); none: same origin only.
    #[arg(long = "cors-origin", env = "WASM_PREDICT_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Ingest requests per second per client (0: unlimited).
    #[arg(long, default_value_t = 50.0, env = "WASM_PREDICT_RATE_LIMIT")]
    pub rate_limit: f64,
    /// Burst size of the rate limit.
    #[arg(long, default_value_t = 100.0, env = "WASM_PREDICT_RATE_BURST")]
    pub rate_burst: f64,
    /// How often the now-test runs (30s, 5m, 1h).
    #[arg(long, default_value = "60s", env = "WASM_PREDICT_NOW_TEST_EVERY")]
    pub now_test_every: String,
    /// How far back the now-test looks.
    #[arg(long, default_value = "7d", env = "WASM_PREDICT_NOW_TEST_WINDOW")]
    pub now_test_window: String,
    /// Where alerts are posted as JSON.
    #[arg(long, env = "WASM_PREDICT_WEBHOOK")]
    pub webhook: Option<String>,
    /// PostgreSQL connections per collector.
    #[arg(long, default_value_t = 16, env = "WASM_PREDICT_POOL_SIZE")]
    pub pool_size: usize,
    /// A proxy or network (10.0.0.0/8) whose X-Forwarded-For names the sender, for the rate
    /// limit behind a load balancer (repeatable).
    #[arg(long = "trusted-proxy", env = "WASM_PREDICT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A folder of more experiment configs (one JSON file each) to report on and watch: other
    /// experiments writing to the same store.
    #[arg(long, env = "WASM_PREDICT_EXPERIMENTS")]
    pub experiments: Option<std::path::PathBuf>,
    /// Log one line per request (method, path, status, milliseconds; no address), as JSON with
    /// `--log-format json`.
    #[arg(long, env = "WASM_PREDICT_LOG_REQUESTS")]
    pub log_requests: bool,
}

/// An address (a network of one) or a network in CIDR notation.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is neither an address nor a network like 10.0.0.0/8"))
}

/// Runs `wasm-predict serve`.
pub async fn exec(args: Args) -> Result<ExitCode> {
    let Args {
        sources,
        addr,
        admin_token,
        cors_origins,
        rate_limit,
        rate_burst,
        now_test_every,
        now_test_window,
        webhook,
        pool_size,
        experiments,
        trusted_proxies,
        log_requests,
    } = args;
    let options = ServeOptions {
        addr,
        site: sources.site(),
        database: Database::parse(&sources.db),
        experiment: sources.experiment,
        experiments_dir: experiments,
        token_supplied: admin_token.as_ref().is_some_and(|t| !t.is_empty()),
        admin_token: match admin_token {
            Some(token) if !token.is_empty() => token,
            _ => random_token()?,
        },
        cors_origins,
        rate_limit: (rate_limit, rate_burst),
        trusted_proxies,
        watchdog: Watchdog {
            every: parse_duration(&now_test_every)?,
            window: window(parse_duration(&now_test_window)?),
            webhook,
        },
        pool_size,
        log_requests,
    };
    serve(options).await?;
    Ok(ExitCode::SUCCESS)
}

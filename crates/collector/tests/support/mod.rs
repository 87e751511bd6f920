//! The collector's router in-process (`oneshot`, no socket) on a real store, and the events and
//! databases to test it with (`events`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use wasm_predict_collector::experiment::{Bundles, Configs};
use wasm_predict_collector::http::{router, App};
use wasm_predict_collector::rate_limit::RateLimiter;
use wasm_predict_collector::serve::Database;
use wasm_predict_collector::site::Site;
use wasm_predict_collector::store::postgres::PostgresStore;
use wasm_predict_collector::store::sqlite::SqliteStore;
use wasm_predict_collector::store::EventStore;

mod events;
pub use events::*;

/// How the router is set up: what `serve`'s flags would say.
pub struct Setup {
    /// Origins allowed to post cross-site.
    pub cors_origins: Vec<String>,
    /// Requests a second per client (0: no limit), and the burst.
    pub rate: (f64, f64),
    /// A folder of more experiment configs.
    pub experiments: Option<std::path::PathBuf>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The served files (the repository's folders unless a test says otherwise).
    pub site: Site,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            cors_origins: vec![],
            rate: (0.0, 1.0),
            experiments: None,
            trusted_proxies: vec![],
            site: Site::folder(repo()),
        }
    }
}

/// The collector's router over `db`, serving the repository, the reports behind [`TOKEN`];
/// requests seem to come from one loopback address.
pub async fn in_process(db: &str, setup: Setup) -> Collector {
    let router = match Database::parse(db) {
        Database::Sqlite(path) => with_store(SqliteStore::open(&path).unwrap(), &setup),
        Database::Postgres(url) => with_store(PostgresStore::connect(&url, 4).await.unwrap(), &setup),
    };
    Collector {
        router: router.layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)))),
    }
}

fn with_store<S: EventStore>(store: S, setup: &Setup) -> Router {
    let site = setup.site.clone();
    let app = App {
        store,
        experiments: Configs {
            served: None,
            site: site.clone(),
            folder: setup.experiments.clone(),
        },
        bundles: Bundles::new(site.clone()),
        site,
        admin_token: TOKEN.into(),
        limiter: RateLimiter::new(setup.rate.0, setup.rate.1),
        trusted_proxies: setup.trusted_proxies.clone(),
        log_requests: false,
    };
    router(Arc::new(app), &setup.cors_origins).unwrap()
}

/// The router, called in-process.
#[derive(Clone)]
pub struct Collector {
    router: Router,
}

impl Collector {
    /// Sends `request`: the status, the headers and the body.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }

    /// Posts a body to the ingest: the status and the JSON answer.
    pub async fn post(&self, body: impl Into<Body>) -> (u16, Value) {
        let request = Request::post("/v1/events").body(body.into()).unwrap();
        let (status, _, bytes) = self.send(request).await;
        (status.as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Sends `request` with the admin token: the status and the body.
    async fn admin(&self, request: axum::http::request::Builder, body: Body) -> (u16, Vec<u8>) {
        let request = request
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(body)
            .unwrap();
        let (status, _, bytes) = self.send(request).await;
        (status.as_u16(), bytes)
    }

    /// GETs `path` with the admin token: the status and the JSON answer.
    #[allow(dead_code)]
    pub async fn admin_json(&self, path: &str) -> (u16, Value) {
        let (status, bytes) = self.admin(Request::get(path), Body::empty()).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// GETs `path` with the admin token: the status and the body as text.
    #[allow(dead_code)]
    pub async fn admin_text(&self, path: &str) -> (u16, String) {
        let (status, bytes) = self.admin(Request::get(path), Body::empty()).await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// POSTs `body` (JSON) to `path` with the admin token: the status and the JSON answer.
    #[allow(dead_code)]
    pub async fn admin_post(&self, path: &str, body: &str) -> (u16, Value) {
        let request = Request::post(path).header("content-type", "application/json");
        let (status, bytes) = self.admin(request, Body::from(body.to_string())).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// GETs `path` with `headers`: the status and the headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap) {
        let (status, headers, _) = self.get_body(path, headers).await;
        (status, headers)
    }

    /// GETs `path` with `headers`: the status, the headers and the body as sent.
    pub async fn get_body(&self, path: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Vec<u8>) {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (status, headers, body) = self.send(request.body(Body::empty()).unwrap()).await;
        (status.as_u16(), headers, body)
    }
}

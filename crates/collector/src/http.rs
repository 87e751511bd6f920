//! The HTTP layer: static files (the demo, the package, the bundles, the dashboard), the ingest
//! API, and the admin-only reports. Thin: every decision is in `events`, `store` and `reports`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::events::{validate_batch, BatchError};
use crate::experiment::{Bundles, Configs, Experiment};
use crate::prometheus;
use crate::rate_limit::{client_address, RateLimiter};
use crate::reports::{self, from_store};
use crate::retention;
use crate::rollup::drift::observations_in;
use crate::site::Site;
use crate::store::{EventStore, Incoming};
use wasm_predict_manifest::Manifest;

/// The policy every page is served under: no inline script, wasm compiled from same-origin bytes.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'";
/// Largest request body the ingest reads.
pub const MAX_BODY: usize = 1 << 20;

/// What the handlers share.
pub struct App<S> {
    /// Where events go.
    pub store: S,
    /// The served files.
    pub site: Site,
    /// The experiment configs: the one served at /www/experiment.json and the folder's.
    pub experiments: Configs,
    /// The bundles, for the reports.
    pub bundles: Bundles,
    /// The bearer token the reports require.
    pub admin_token: String,
    /// The ingest's limits per address and per client id.
    pub limiter: RateLimiter,
    /// Proxies whose `X-Forwarded-For` names the sender.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether every request is logged.
    pub log_requests: bool,
}

/// The router, with CORS on the ingest for `cors_origins` (none: same origin only).
pub fn router<S: EventStore>(app: Arc<App<S>>, cors_origins: &[String]) -> anyhow::Result<Router> {
    let mut ingest = Router::new()
        .route("/v1/events", post(ingest::<S>))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            limit_by_address::<S>,
        ));
    if !cors_origins.is_empty() {
        let origins = cors_origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<Vec<_>, _>>()?;
        ingest = ingest.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::POST])
                .allow_headers([header::CONTENT_TYPE]),
        );
    }
    let reports = Router::new()
        .route("/v1/reports/ab", get(ab_report::<S>))
        .route("/v1/reports/drift", get(drift_report::<S>))
        .route("/v1/reports/now-test", get(now_test_report::<S>))
        .route("/v1/reports/review", get(review_report::<S>))
        .route("/v1/reports/review.csv", get(review_csv::<S>))
        .route("/v1/reports/timeline", get(timeline_report::<S>))
        .route("/v1/alerts", get(alerts::<S>))
        .route("/v1/experiments", get(experiments::<S>))
        .route("/v1/admin/purge", post(purge::<S>))
        .route("/metrics", get(metrics_text))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            require_admin::<S>,
        ));
    Ok(Router::new()
        .route("/", get(|| async { Redirect::temporary("/www/index.html") }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz::<S>))
        .route("/www/experiment.json", get(experiment_config::<S>))
        .merge(ingest)
        .merge(reports)
        // The API's answers only: the static files come compressed at build time or not at all.
        .route_layer(CompressionLayer::new())
        .fallback(static_file::<S>)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            time_request::<S>,
        ))
        .with_state(app))
}

/// Why a request gets no answer but an error: each kind maps to one status, and the body is
/// always `{"error": message}` naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The batch cannot be read at all (not JSON, not the envelope, too many events).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The client sends faster than its rate limit; it may retry after this long.
    #[error("rate limit: slow down")]
    RateLimited(std::time::Duration),
    /// The store refused the write; the client keeps its events and retries.
    #[error("storage unavailable; retry")]
    Storage(#[source] anyhow::Error),
    /// A report was asked for without the admin token.
    #[error("reports need the admin token: Authorization: Bearer <token>")]
    Unauthorized,
    /// A report's parameters or inputs do not make sense (an unknown model, a bad config).
    #[error("{0:#}")]
    BadRequest(anyhow::Error),
    /// A report failed on the server's side.
    #[error("{0:#}")]
    Internal(anyhow::Error),
    /// Nothing is served at this path.
    #[error("{0}")]
    NotFound(String),
    /// Static files only answer GET and HEAD.
    #[error("static files are read-only")]
    ReadOnly,
}

impl AppError {
    /// The HTTP status of this kind of error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Batch(BatchError::TooManyEvents(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Batch(_) | AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Storage(e) = &self {
            tracing::error!("storing events failed: {e:#}");
        }
        let mut response = (self.status(), Json(json!({ "error": self.to_string() }))).into_response();
        if let AppError::RateLimited(wait) = self {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

fn not_found() -> AppError {
    AppError::NotFound("not found".into())
}

async fn ingest<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, AppError> {
    let batch = validate_batch(&body).inspect_err(|e| {
        let reason = if matches!(e, BatchError::TooManyEvents(_)) {
            "too_large"
        } else {
            "bad_batch"
        };
        metrics::counter!(prometheus::BATCHES_REFUSED, "reason" => reason).increment(1);
    })?;
    if let Some(first) = batch.events.first() {
        app.limiter.check_client(&first.client_id).map_err(|wait| {
            metrics::counter!(prometheus::RATE_LIMITED, "limit" => "client").increment(1);
            AppError::RateLimited(wait)
        })?;
    }
    metrics::counter!(prometheus::REFUSED).increment(batch.rejected.len() as u64);
    if let Some(first) = batch.rejected.first() {
        tracing::warn!(
            "refused {} event(s) from {}; first: #{} {}",
            batch.rejected.len(),
            peer.ip(),
            first.index,
            first.reason
        );
    }
    let ids: Vec<String> = batch.events.iter().map(|e| e.id.clone()).collect();
    let fresh = if batch.events.is_empty() {
        Vec::new()
    } else {
        let incoming = batch
            .events
            .into_iter()
            .map(|event| Incoming {
                drift: observations_in(&app.bundles, &event),
                event,
            })
            .collect();
        let waiting = metrics::gauge!(prometheus::COMMITS_WAITING);
        waiting.increment(1.0);
        let started = std::time::Instant::now();
        let stored = app.store.insert(incoming).await;
        waiting.decrement(1.0);
        metrics::histogram!(prometheus::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        stored.map_err(AppError::Storage)?
    };
    let (accepted, duplicates): (Vec<_>, Vec<_>) = ids.into_iter().zip(fresh).partition(|(_, new)| *new);
    metrics::counter!(prometheus::ACCEPTED).increment(accepted.len() as u64);
    metrics::counter!(prometheus::DUPLICATES).increment(duplicates.len() as u64);
    let status = if batch.rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let reply = json!({
        "accepted": accepted.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "duplicates": duplicates.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "rejected": batch.rejected,
    });
    Ok((status, Json(reply)).into_response())
}

/// The route a path is counted under in the request histogram (a fixed set: paths come from
/// anyone).
fn route_of(path: &str) -> &'static str {
    match path {
        "/v1/events" => "ingest",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/www/experiment.json" => "experiment",
        p if p.starts_with("/v1/reports/") || p == "/v1/alerts" || p == "/v1/experiments" => "reports",
        p if p.starts_with("/v1/admin/") => "admin",
        _ => "static",
    }
}

/// Times every request into [`prometheus::REQUEST_SECONDS`] and, when asked, logs it: method,
/// path (no query string), status and duration; never the sender's address.
async fn time_request<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let route = route_of(request.uri().path());
    let logged = app
        .log_requests
        .then(|| (request.method().clone(), request.uri().path().to_string()));
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    prometheus::request(route, response.status().as_u16(), elapsed);
    if let Some((method, path)) = logged {
        tracing::info!(
            target: "wasm_predict::request",
            method = %method,
            path,
            route,
            status = response.status().as_u16(),
            ms = elapsed.as_secs_f64() * 1e3,
            "request"
        );
    }
    response
}

/// The collector's metrics in Prometheus's text format.
async fn metrics_text() -> Response {
    match prometheus::handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            handle.render(),
        )
            .into_response(),
        None => AppError::Internal(anyhow::anyhow!("no metrics recorder in this process")).into_response(),
    }
}

/// The first limit, by the sender's address, before the body is read.
async fn limit_by_address<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Result<Response, AppError> {
    let address = client_address(peer.ip(), request.headers(), &app.trusted_proxies);
    app.limiter.check_address(address).map_err(|wait| {
        metrics::counter!(prometheus::RATE_LIMITED, "limit" => "address").increment(1);
        AppError::RateLimited(wait)
    })?;
    Ok(next.run(request).await)
}

async fn require_admin<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Result<Response, AppError> {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), app.admin_token.as_bytes()) {
        return Err(AppError::Unauthorized);
    }
    Ok(next.run(request).await)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Query parameters of the reports.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    /// The experiment's id; default: the served config's.
    pub experiment: Option<String>,
    /// `name@version` (drift, now-test); default: the champion's bundle.
    pub model: Option<String>,
    /// Only events of the last this many hours.
    pub hours: Option<f64>,
    /// PSI threshold (drift).
    pub threshold: Option<f64>,
    /// Fewest outcomes for a verdict (now-test).
    pub min_outcomes: Option<u64>,
    /// Bucket width in minutes (timeline).
    pub minutes: Option<i64>,
    /// Most items (review).
    pub limit: Option<usize>,
}

impl ReportQuery {
    fn since(&self) -> Option<DateTime<Utc>> {
        let hours = self.hours.filter(|h| h.is_finite() && *h > 0.0)?;
        Some(Utc::now() - TimeDelta::milliseconds((hours * 3_600_000.0) as i64))
    }
}

type Answer<T> = Result<Json<T>, AppError>;

fn experiment_of<S>(app: &App<S>, q: &ReportQuery) -> Result<Experiment, AppError> {
    match q.experiment.as_deref() {
        None => app.experiments.get(None).map_err(AppError::Internal),
        Some(id) => app.experiments.get(Some(id)).map_err(AppError::BadRequest),
    }
}

async fn ab_report<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<ReportQuery>,
) -> Answer<reports::ab::AbReport> {
    let experiment = experiment_of(&app, &q)?;
    let report = from_store::ab(&app.store, &experiment, &app.bundles, q.since())
        .await
        .map_err(AppError::Internal)?;
    Ok(Json(report))
}

/// The experiment and the manifest of the model a drift or now-test report is about.
fn model_report_of<S>(app: &App<S>, q: &ReportQuery) -> Result<(Experiment, Manifest), AppError> {
    let experiment = experiment_of(app, q)?;
    let (name, version) = model_of(&experiment, q).map_err(AppError::BadRequest)?;
    let manifest = app.bundles.manifest(&name, &version).map_err(AppError::BadRequest)?;
    Ok((experiment, manifest))
}

fn model_of(experiment: &Experiment, q: &ReportQuery) -> anyhow::Result<(String, String)> {
    let bundle = q
        .model
        .clone()
        .unwrap_or_else(|| experiment.champion_arm().bundle.clone());
    let (name, version) = bundle
        .split_once('@')
        .ok_or_else(|| anyhow::anyhow!("model must be name@version, got `{bundle}`"))?;
    Ok((name.to_string(), version.to_string()))
}

async fn drift_report<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<ReportQuery>,
) -> Answer<reports::drift::DriftReport> {
    let (experiment, manifest) = model_report_of(&app, &q)?;
    let threshold = q.threshold.unwrap_or(reports::drift::DEFAULT_PSI_THRESHOLD);
    let report = from_store::drift(&app.store, &experiment, &manifest, q.since(), threshold)
        .await
        .map_err(AppError::Internal)?;
    Ok(Json(report))
}

async fn now_test_report<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<ReportQuery>,
) -> Answer<reports::now_test::NowTest> {
    let (experiment, manifest) = model_report_of(&app, &q)?;
    let min_outcomes = q.min_outcomes.unwrap_or(reports::now_test::DEFAULT_MIN_OUTCOMES);
    let report = from_store::now_test(&app.store, &experiment, &manifest, q.since(), min_outcomes)
        .await
        .map_err(AppError::Internal)?;
    Ok(Json(report))
}

async fn review_items<S: EventStore>(
    app: &App<S>,
    q: &ReportQuery,
) -> Result<Vec<reports::review::ReviewItem>, AppError> {
    let experiment = experiment_of(app, q)?;
    let limit = q.limit.unwrap_or(from_store::DEFAULT_REVIEW_LIMIT).clamp(1, 100_000);
    from_store::review(&app.store, &experiment, q.since(), limit)
        .await
        .map_err(AppError::Internal)
}

async fn review_report<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<ReportQuery>,
) -> Answer<Vec<reports::review::ReviewItem>> {
    Ok(Json(review_items(&app, &q).await?))
}

async fn review_csv<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let csv = reports::review::review_csv(&review_items(&app, &q).await?).map_err(AppError::Internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"review.csv\""),
        ],
        csv,
    )
        .into_response())
}

async fn timeline_report<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<ReportQuery>,
) -> Answer<Vec<reports::timeline::TimelinePoint>> {
    let experiment = experiment_of(&app, &q)?;
    let width = q.minutes.unwrap_or(1).clamp(1, 24 * 60);
    let points = from_store::timeline(&app.store, &experiment, q.since(), width)
        .await
        .map_err(AppError::Internal)?;
    Ok(Json(points))
}

/// Ready when the database answers and its schema is this collector's: a load balancer sends
/// traffic only then (`/healthz` says only that the process is up).
async fn readyz<S: EventStore>(State(app): State<Arc<App<S>>>) -> Response {
    match app.store.schema_version().await {
        Ok(version) if version == crate::store::SCHEMA_VERSION => (StatusCode::OK, "ready\n").into_response(),
        Ok(version) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the database schema is v{version}, this collector needs v{}\n",
                crate::store::SCHEMA_VERSION
            ),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the database does not answer: {e:#}\n"),
        )
            .into_response(),
    }
}

/// One experiment for the dashboard's pickers.
#[derive(Debug, serde::Serialize)]
struct ExperimentEntry {
    id: String,
    /// Whether a config judges it (reports need one).
    configured: bool,
    /// Whether it is the one the shell is served.
    served: bool,
    /// Its arms' bundles, then the other models its events name.
    models: Vec<String>,
    /// Its first and last event, when it has any.
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

/// The experiments of the configs and of the stored events, for the dashboard's pickers.
async fn experiments<S: EventStore>(State(app): State<Arc<App<S>>>) -> Result<Response, AppError> {
    let (configs, broken) = app.experiments.all().map_err(AppError::Internal)?;
    let stored = app.store.experiments().await.map_err(AppError::Internal)?;
    let time = |minute: i64| Some(crate::rollup::start_of_minute(minute));
    let mut entries: Vec<ExperimentEntry> = configs
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let seen = stored.iter().find(|s| s.id == config.id);
            let mut models: Vec<String> = config.arms.iter().map(|a| a.bundle.clone()).collect();
            for model in seen.map(|s| s.models.clone()).unwrap_or_default() {
                if !models.contains(&model) {
                    models.push(model);
                }
            }
            ExperimentEntry {
                id: config.id.clone(),
                configured: true,
                served: i == 0,
                models,
                first: seen.and_then(|s| time(s.first_minute)),
                last: seen.and_then(|s| time(s.last_minute)),
            }
        })
        .collect();
    for s in stored.iter().filter(|s| !configs.iter().any(|c| c.id == s.id)) {
        entries.push(ExperimentEntry {
            id: s.id.clone(),
            configured: false,
            served: false,
            models: s.models.clone(),
            first: time(s.first_minute),
            last: time(s.last_minute),
        });
    }
    Ok(Json(json!({ "experiments": entries, "broken_configs": broken })).into_response())
}

/// What `POST /v1/admin/purge` deletes: one of the two.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurgeRequest {
    /// Events older than this (`90d`, `12h`), to the hour.
    pub older_than: Option<String>,
    /// Every event of this client id.
    pub client: Option<String>,
}

async fn purge<S: EventStore>(State(app): State<Arc<App<S>>>, body: Bytes) -> Result<Response, AppError> {
    let request: PurgeRequest = serde_json::from_slice(&body).map_err(|e| {
        AppError::BadRequest(anyhow::anyhow!(
            "the body must be {{\"olderThan\": \"90d\"}} or {{\"client\": \"ID\"}}: {e}"
        ))
    })?;
    let answer = match (request.older_than, request.client) {
        (Some(age), None) => {
            let before = retention::cutoff(&age).map_err(AppError::BadRequest)?;
            let (deleted, kept_from) = retention::purge_older(&app.store, before)
                .await
                .map_err(AppError::Internal)?;
            json!({ "deleted": deleted, "kept_from": kept_from })
        }
        (None, Some(client)) if !client.is_empty() => {
            let deleted = retention::purge_client(&app.store, &app.bundles, &client)
                .await
                .map_err(AppError::Internal)?;
            json!({ "deleted": deleted, "client": client })
        }
        _ => {
            return Err(AppError::BadRequest(anyhow::anyhow!(
                "give exactly one of olderThan (\"90d\") and client (a client id)"
            )))
        }
    };
    tracing::info!("purge: {answer}");
    Ok(Json(answer).into_response())
}

async fn alerts<S: EventStore>(State(app): State<Arc<App<S>>>) -> Answer<Vec<crate::store::Alert>> {
    Ok(Json(app.store.alerts(50).await.map_err(AppError::Internal)?))
}

async fn experiment_config<S: EventStore>(State(app): State<Arc<App<S>>>) -> Result<Response, AppError> {
    let bytes = app
        .experiments
        .served_text()
        .map_err(|e| AppError::NotFound(format!("no experiment config: {e:#}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        bytes,
    )
        .into_response())
}

async fn static_file<S: EventStore>(
    State(app): State<Arc<App<S>>>,
    request: Request<Body>,
) -> Result<Response, AppError> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(AppError::ReadOnly);
    }
    let response = app.site.respond(request).await;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(not_found());
    }
    Ok(response)
}

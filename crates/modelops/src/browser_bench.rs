//! The browser side of `bench`: serves the wasm package, the two bundles and a timing page on
//! loopback, opens the page in headless chromium, and waits for the page to post its figures.
//! The page is cross-origin isolated (COOP + COEP), so its clock is not coarsened.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::oneshot;

use super::bench::{BenchRequest, BrowserOptions, BrowserSide, Comparison, Latency};

const PAGE: &str = include_str!("../assets/bench.html");
const SCRIPT: &str = include_str!("../assets/bench.js");
/// How long the page calls both versions before timing them.
const WARM_UP_MS: u64 = 1500;
/// The package files the page loads: the default entry's, and the full entry's for a bundle
/// without a compiled plan.
const PKG_FILES: [&str; 4] = [
    "wasm_predict.js",
    "wasm_predict_bg.wasm",
    "full/wasm_predict.js",
    "full/wasm_predict_bg.wasm",
];
/// Flags for headless chromium as root on a machine whose only network is loopback.
pub const CHROMIUM_ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

/// What the page posts.
#[derive(Debug, Deserialize)]
struct PageResult {
    browser: String,
    old: Latency,
    new: Latency,
}

#[derive(Debug, Deserialize)]
struct PageError {
    message: String,
}

type Outcome = std::result::Result<PageResult, String>;

/// A bundle as the browser loads it: its manifest, and its model file's name and bytes.
pub struct BrowserBundle {
    manifest: Vec<u8>,
    file: &'static str,
    model: Vec<u8>,
}

impl BrowserBundle {
    /// The bundle at `dir` as the shell loads it: from its compiled plan when the manifest states
    /// one (the package's default entry), else from model.onnx (the full entry).
    pub fn read(dir: &Path) -> Result<BrowserBundle> {
        let (manifest, model) = super::verify::read_bundle(dir)?;
        Ok(match super::verify::read_stated_plan(dir, &manifest).transpose()? {
            Some(plan) => BrowserBundle {
                manifest,
                file: wasm_predict::manifest::PLAN_FILE,
                model: plan,
            },
            None => BrowserBundle {
                manifest,
                file: "model.onnx",
                model,
            },
        })
    }
}

struct Shared {
    bundles: [BrowserBundle; 2],
    pkg: PathBuf,
    config: serde_json::Value,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
}

impl Shared {
    fn finish(&self, outcome: Outcome) {
        if let Some(sender) = self.done.lock().ok().and_then(|mut d| d.take()) {
            let _ = sender.send(outcome);
        }
    }
}

fn with_type(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn bundle_file(State(shared): State<Arc<Shared>>, UrlPath((which, file)): UrlPath<(String, String)>) -> Response {
    let index = match which.as_str() {
        "old" => 0,
        "new" => 1,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let bundle = &shared.bundles[index];
    match file.as_str() {
        "manifest.json" => with_type("application/json", bundle.manifest.clone()),
        f if f == bundle.file => with_type("application/octet-stream", bundle.model.clone()),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn pkg_file(State(shared): State<Arc<Shared>>, UrlPath(file): UrlPath<String>) -> Response {
    serve_pkg(&shared, file).await
}

async fn full_pkg_file(State(shared): State<Arc<Shared>>, UrlPath(file): UrlPath<String>) -> Response {
    serve_pkg(&shared, format!("full/{file}")).await
}

async fn serve_pkg(shared: &Shared, file: String) -> Response {
    if !PKG_FILES.contains(&file.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = if file.ends_with(".wasm") {
        "application/wasm"
    } else {
        "text/javascript"
    };
    match tokio::fs::read(shared.pkg.join(&file)).await {
        Ok(bytes) => with_type(content_type, bytes),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(|| async { with_type("text/html; charset=utf-8", PAGE) }))
        .route("/bench.js", get(|| async { with_type("text/javascript", SCRIPT) }))
        .route(
            "/config",
            get(|State(s): State<Arc<Shared>>| async move { with_type("application/json", s.config.to_string()) }),
        )
        .route("/pkg/{file}", get(pkg_file))
        .route("/pkg/full/{file}", get(full_pkg_file))
        .route("/{which}/{file}", get(bundle_file))
        .route(
            "/result",
            post(|State(s): State<Arc<Shared>>, body: Bytes| async move {
                s.finish(serde_json::from_slice::<PageResult>(&body).map_err(|e| format!("the page's figures: {e}")));
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/error",
            post(|State(s): State<Arc<Shared>>, Json(e): Json<PageError>| async move {
                s.finish(Err(e.message));
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(shared)
}

/// Kills chromium and removes its profile when dropped, however the run ends.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn launch(chromium: &Path, url: &str) -> Result<Browser> {
    let profile = std::env::temp_dir().join(format!("wasm-predict-bench-{}", std::process::id()));
    std::fs::create_dir_all(&profile).with_context(|| format!("creating {}", profile.display()))?;
    let child = Command::new(chromium)
        .args(CHROMIUM_ARGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (install Debian's chromium, or pass --chromium)",
                chromium.display()
            )
        })?;
    Ok(Browser { child, profile })
}

/// Times both bundles in headless chromium.
pub fn run(options: &BrowserOptions, bundles: [BrowserBundle; 2], request: &BenchRequest) -> Result<BrowserSide> {
    for file in PKG_FILES {
        if !options.pkg.join(file).is_file() {
            bail!(
                "{}: no {file}; build the package first (scripts/build.sh) or pass --native-only",
                options.pkg.display()
            );
        }
    }
    let (sender, receiver) = oneshot::channel();
    let shared = Arc::new(Shared {
        bundles,
        pkg: options.pkg.clone(),
        config: serde_json::json!({
            "batch": request.batch,
            "blocks": request.blocks,
            "perBlock": request.per_block,
            "warmUpMs": WARM_UP_MS,
        }),
        done: Mutex::new(Some(sender)),
    });
    // A runtime of its own on a thread of its own: the CLI may already be inside one.
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| serve_and_wait(options, shared, receiver))
            .join()
            .map_err(|_| anyhow!("the bench server thread failed"))?
    })?;
    Ok(BrowserSide {
        browser: outcome.browser,
        latency: Comparison::of(outcome.old, outcome.new),
    })
}

fn serve_and_wait(
    options: &BrowserOptions,
    shared: Arc<Shared>,
    receiver: oneshot::Receiver<Outcome>,
) -> Result<PageResult> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, router(shared)).await });
        let _browser = launch(&options.chromium, &url)?;
        let outcome = tokio::time::timeout(options.timeout, receiver).await;
        server.abort();
        match outcome {
            Err(_) => bail!("chromium did not report within {}s ({url})", options.timeout.as_secs()),
            Ok(Err(_)) => bail!("the bench page went away without a result"),
            Ok(Ok(outcome)) => outcome.map_err(|e| anyhow!("in chromium: {e}")),
        }
    })
}

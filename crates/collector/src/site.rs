//! The files the collector serves (`www/`: the demo, the dashboard and the shell; `pkg/`: the npm
//! package; `models/`: the bundles): built into the binary with their brotli and gzip variants
//! (made by `build.rs`), or, for development and for an operator's own bundles, read from folders
//! through tower-http's `ServeDir`.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// The folders served, each at `/<folder>/`.
pub const FOLDERS: [&str; 3] = ["www", "pkg", "models"];

/// The served folders as `build.rs` prepared them: `raw/<path>`, and `br/<path>`, `gz/<path>`
/// where compression pays. Built in even in debug builds (`debug-embed`): the build folder they
/// come from is shared by every checkout of the workspace that uses the same target directory.
#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/site/"]
struct Embedded;

/// Where the served files come from: the binary, unless a folder overrides.
#[derive(Debug, Clone, Default)]
pub struct Site {
    root: Option<PathBuf>,
    models: Option<PathBuf>,
}

impl Site {
    /// The files built into the binary.
    pub fn embedded() -> Self {
        Self::default()
    }

    /// `root`'s `www/`, `pkg/` and `models/` instead of the built-in ones.
    pub fn folder(root: PathBuf) -> Self {
        Self {
            root: Some(root),
            models: None,
        }
    }

    /// The bundles of the folder `models` (holding `<name>/<version>/`) instead.
    pub fn with_models(mut self, models: PathBuf) -> Self {
        self.models = Some(models);
        self
    }

    /// Where `folder`'s files are on disk, or `None` when they are built in.
    fn disk(&self, folder: &str) -> Option<PathBuf> {
        match (folder, &self.models, &self.root) {
            ("models", Some(models), _) => Some(models.clone()),
            (_, _, Some(root)) => Some(root.join(folder)),
            _ => None,
        }
    }

    /// Refuses a site without the dashboard or the bundles, naming what is missing.
    pub fn check(&self) -> Result<()> {
        for folder in ["www", "models"] {
            match self.disk(folder) {
                Some(dir) if !dir.is_dir() => bail!(
                    "{} is not a folder: --root must hold www/ and models/, --models the bundles",
                    dir.display()
                ),
                Some(_) => {}
                None if Embedded::iter().all(|f| !f.starts_with(&format!("raw/{folder}/"))) => {
                    bail!("this binary was built without {folder}/: build it from the repository, or pass --root")
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Where `path` (`models/<name>/<version>/manifest.json`) is read from, for messages.
    pub fn locate(&self, path: &str) -> String {
        let (folder, rest) = path.split_once('/').unwrap_or((path, ""));
        match self.disk(folder) {
            Some(dir) => dir.join(rest).display().to_string(),
            None => format!("{path} (built in)"),
        }
    }

    /// The bytes of `path`, a path under one of the served folders (`www/experiment.json`).
    pub fn read(&self, path: &str) -> Result<Cow<'static, [u8]>> {
        let (folder, rest) = split(path).with_context(|| format!("{path} is not a served file"))?;
        match self.disk(folder) {
            Some(dir) => {
                let file = dir.join(rest);
                Ok(Cow::Owned(
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
                ))
            }
            None => Embedded::get(&format!("raw/{path}"))
                .map(|f| f.data)
                .with_context(|| format!("{path} is not built into this binary")),
        }
    }

    /// The answer to a GET or HEAD of `request`'s path.
    pub async fn respond(&self, request: Request<Body>) -> Response<Body> {
        let Some(path) = percent_decode(request.uri().path()) else {
            return status(StatusCode::NOT_FOUND);
        };
        let Some((folder, rest)) = split(path.trim_start_matches('/')) else {
            return status(StatusCode::NOT_FOUND);
        };
        let cache = cache_control(folder);
        let mut response = match self.disk(folder) {
            Some(dir) => {
                let (mut parts, body) = request.into_parts();
                let Ok(uri) = format!("/{rest}").parse::<Uri>() else {
                    return status(StatusCode::NOT_FOUND);
                };
                parts.uri = uri;
                let served = ServeDir::new(dir)
                    .precompressed_br()
                    .precompressed_gzip()
                    .append_index_html_on_directories(false)
                    .oneshot(Request::from_parts(parts, body))
                    .await;
                match served {
                    Ok(response) => response.map(Body::new),
                    Err(never) => match never {},
                }
            }
            None => embedded(&format!("{folder}/{rest}"), request.headers()),
        };
        if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
            response.headers_mut().insert(header::CACHE_CONTROL, cache);
        }
        response
    }
}

/// A bundle's files never change under the same name and version (the shell caches them by
/// hash); everything else is checked again on each use.
fn cache_control(folder: &str) -> HeaderValue {
    HeaderValue::from_static(if folder == "models" {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    })
}

/// `path` as a served folder and a path inside it made of plain names only.
fn split(path: &str) -> Option<(&str, &str)> {
    let (folder, rest) = path.split_once('/')?;
    let folder = FOLDERS.into_iter().find(|f| *f == folder)?;
    let plain = !rest.is_empty()
        && Path::new(rest).components().all(|c| matches!(c, Component::Normal(_)))
        && !rest.ends_with('/');
    plain.then_some((folder, rest))
}

/// A built-in file: its brotli or gzip variant when the client takes it, with a strong ETag per
/// variant.
fn embedded(path: &str, headers: &HeaderMap) -> Response<Body> {
    let Some(raw) = Embedded::get(&format!("raw/{path}")) else {
        return status(StatusCode::NOT_FOUND);
    };
    let hash: String = raw.metadata.sha256_hash()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let variant = [("br", "br"), ("gzip", "gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(headers, coding))
        .find_map(|(coding, folder)| Embedded::get(&format!("{folder}/{path}")).map(|f| (coding, f)));
    let etag = match &variant {
        Some((coding, _)) => format!("\"{hash}-{coding}\""),
        None => format!("\"{hash}\""),
    };
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::VARY, "accept-encoding");
    if matches_etag(headers, &etag) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
    }
    builder = builder.header(header::CONTENT_TYPE, mime_of(path));
    let data = match variant {
        Some((coding, file)) => {
            builder = builder.header(header::CONTENT_ENCODING, coding);
            file.data
        }
        None => raw.data,
    };
    builder
        .header(header::CONTENT_LENGTH, data.len())
        .body(Body::from(data))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn mime_of(path: &str) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

/// Whether `Accept-Encoding` takes `coding` (named, or `*`, with a quality above 0).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    let Some(accepted) = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let quality = |name: &str| {
        accepted.split(',').find_map(|item| {
            let mut parts = item.split(';');
            let token = parts.next()?.trim();
            if !token.eq_ignore_ascii_case(name) {
                return None;
            }
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            Some(q)
        })
    };
    quality(coding).or_else(|| quality("*")).is_some_and(|q| q > 0.0)
}

/// Whether `If-None-Match` names `etag` (or `*`); weak forms match too, as RFC 9110 says for GET.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_encoding(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_encoding_is_read_with_its_qualities() {
        assert!(accepts(&with_encoding("gzip, deflate, br, zstd"), "br"));
        assert!(!accepts(&with_encoding("gzip;q=1.0, br;q=0"), "br"));
        assert!(accepts(&with_encoding("gzip;q=1.0, br;q=0"), "gzip"));
        assert!(accepts(&with_encoding("*"), "br"));
        assert!(!accepts(&with_encoding("*, gzip;q=0"), "gzip"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }

    #[test]
    fn only_plain_paths_under_the_served_folders_are_files() {
        assert_eq!(split("www/index.html"), Some(("www", "index.html")));
        assert_eq!(
            split("models/a/1.0.0/model.onnx"),
            Some(("models", "a/1.0.0/model.onnx"))
        );
        for bad in ["www/../Cargo.toml", "src/lib.rs", "www/", "www", "pkg/./x", "models//x"] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}

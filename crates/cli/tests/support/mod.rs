//! Shared by the tests of the real binary: a `wasm-predict serve` process on loopback, and the
//! events and databases of the collector's own tests (`events`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[path = "../../../collector/tests/support/events.rs"]
mod events;
pub use events::*;

pub const BINARY: &str = env!("CARGO_BIN_EXE_wasm-predict");

/// Runs the CLI from the repository root: (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BINARY).args(args).current_dir(repo()).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.code().unwrap(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// A running collector; killed on drop.
pub struct Collector {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wasm-predict serve` on `db` (port 0: any free port) and waits for it to listen.
pub fn start(db: &str, port: u16, extra: &[&str]) -> Collector {
    let root = repo();
    let mut child = Command::new(BINARY)
        .args([
            "serve",
            "--db",
            db,
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--admin-token",
            TOKEN,
        ])
        .arg("--root")
        .arg(&root)
        .arg("--experiment")
        .arg(root.join("www/experiment.json"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("demo:") {
                let url = rest.trim().trim_end_matches("/www/index.html").to_string();
                let _ = sender.send(url);
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the collector did not start");
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    Collector { child, url, port }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn post(client: &reqwest::Client, url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = client.post(format!("{url}/v1/events")).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

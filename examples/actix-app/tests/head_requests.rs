//! `HEAD` on the actix example's GET routes answers as on the axum example (whose `get` routes
//! answer `HEAD`): the GET's status and headers, no body; other methods still get 405.
//!
//! The examples' shared suite (`examples/axum-app/tests/common/example_http.rs`) has no `HEAD` case
//! yet; this runs the actix binary on its own until it has.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The example process, killed when the test ends (also on a failed assertion).
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on a free loopback port; returns it and its base URL.
fn start() -> (Example, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spyglass-example-actix"))
        .args(["--port", "0"])
        .env_remove("SPYGLASS_DASHBOARD")
        .env_remove("SPYGLASS_JSONL_DIR")
        .env_remove("SPYGLASS_CONSOLE")
        .env_remove("SPYGLASS_PROMETHEUS")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the example binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let example = Example(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("Spyglass dashboard: ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the example prints its dashboard URL within 60 s");
    let base = url
        .strip_suffix("/_spyglass")
        .unwrap_or_else(|| panic!("dashboard URL ends in /_spyglass: {url}"))
        .to_string();
    (example, base)
}

#[tokio::test]
async fn head_on_get_routes_answers_200_without_a_body() {
    let (_example, base) = start();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    for path in ["/health", "/", "/users/42"] {
        let r = client
            .head(format!("{base}{path}"))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(r.status().as_u16(), 200, "HEAD {path}");
        assert!(r.headers().contains_key("traceparent"), "HEAD {path}");
        let body = r.bytes().await.expect("body");
        assert!(body.is_empty(), "HEAD {path}: {body:?}");
    }
    let r = client
        .delete(format!("{base}/health"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status().as_u16(), 405, "another method on a known path");
}

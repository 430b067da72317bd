//! The example app of the README's first command:
//!
//! ```text
//! cargo run --release -p spyglass-example-axum -- --demo-traffic
//! ```
//!
//! An axum shop API with `SpyglassLayer`, a few `#[spyglass::instrument]`ed functions, routes with
//! parameters, errors, a slow route and a panicking one, over an embedded SQLite database (in memory,
//! created and seeded at start: no setup) queried through sqlx on a pool wrapped in
//! `spyglass::sqlx::InstrumentedPool`, so every query is timed, fingerprinted and nested under its
//! request. `GET /orders` loads each order's lines with one query per order (an N+1 pattern, on
//! purpose) and `POST /users` with a taken email fails on a `UNIQUE` constraint, so the dashboard's
//! N+1 panel and failed queries have data. `--demo-traffic` drives realistic traffic at itself so
//! the dashboard is alive at first glance; `--port N` picks the port (default 3000, `0` for
//! any free one). It prints the dashboard URL as `Spyglass dashboard: http://127.0.0.1:PORT/_spyglass`.
//!
//! Exporters come from the environment, e.g. `SPYGLASS_PROMETHEUS=1` (then `/_spyglass/metrics`),
//! `SPYGLASS_JSONL_DIR=./logs`, `SPYGLASS_CONSOLE=compact`.

mod demo;
mod demo_db;
mod domain;
mod routes;
mod startup;
mod store;

use std::net::SocketAddr;
use std::process::ExitCode;

const BINARY: startup::Binary = startup::Binary {
    name: "spyglass-example-axum",
    default_port: 3000,
    panic_catcher: "SpyglassLayer",
};

#[tokio::main]
async fn main() -> ExitCode {
    let started = match BINARY.start().await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let port = started.args.port;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("bound address");
    startup::serving(addr, started.args.demo);
    let app = routes::router(started.store);
    // A graceful shutdown on Ctrl-C: the requests in flight finish and are recorded. The live
    // dashboard streams are told to end, or an open dashboard would hold the shutdown forever.
    // Dropping `started` afterwards flushes every recorded event to the exporters.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping: finishing the requests in flight");
        spyglass::global().end_streams();
    });
    if let Err(e) = server.await {
        eprintln!("server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

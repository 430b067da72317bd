//! The example shop on actix-web, the twin of the axum example (same routes, same business logic):
//!
//! ```text
//! cargo run --release -p spyglass-example-actix -- --demo-traffic
//! ```
//!
//! An actix-web shop API wrapped in `spyglass::actix::Spyglass`, a few `#[spyglass::instrument]`ed
//! functions, routes with parameters, errors, a slow route and a panicking one, over an embedded
//! SQLite database (in memory, created and seeded at start: no setup) queried through sqlx on a pool
//! wrapped in `spyglass::sqlx::InstrumentedPool`, so every query is timed, fingerprinted and nested
//! under its request. `GET /orders` loads each order's lines with one query per order (an N+1
//! pattern, on purpose) and `POST /users` with a taken email fails on a `UNIQUE` constraint, so the
//! dashboard's N+1 panel and failed queries have data. `--demo-traffic` drives realistic traffic at
//! itself so the dashboard is alive at first glance; `--port N` picks the port (default 3001, so it
//! can run beside the axum example on 3000; `0` for any free one). It prints the dashboard URL as
//! `Spyglass dashboard: http://127.0.0.1:PORT/_spyglass`.
//!
//! The business logic (`domain.rs`), the SQLite store (`store.rs`), the demo traffic (`demo.rs`,
//! `demo_db.rs`) and the start-up (`startup.rs`: command line, panic hook, Spyglass, store, URLs)
//! are the axum example's own files, compiled in here, so the two examples cannot drift; only the
//! handlers (`routes.rs`) and the server below differ.
//!
//! Exporters come from the environment, e.g. `SPYGLASS_PROMETHEUS=1` (then `/_spyglass/metrics`),
//! `SPYGLASS_JSONL_DIR=./logs`, `SPYGLASS_CONSOLE=compact`.

// The axum example's files (formatted and linted with it, their owner).
#[rustfmt::skip]
#[path = "../../axum-app/src/demo.rs"]
mod demo;
#[rustfmt::skip]
#[path = "../../axum-app/src/demo_db.rs"]
mod demo_db;
#[rustfmt::skip]
#[path = "../../axum-app/src/domain.rs"]
mod domain;
mod routes;
#[rustfmt::skip]
#[path = "../../axum-app/src/startup.rs"]
mod startup;
#[rustfmt::skip]
#[path = "../../axum-app/src/store.rs"]
mod store;

use std::process::ExitCode;

const BINARY: startup::Binary = startup::Binary {
    name: "spyglass-example-actix",
    default_port: 3001,
    panic_catcher: "the Spyglass middleware",
};

#[actix_web::main]
async fn main() -> ExitCode {
    let started = match BINARY.start().await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let port = started.args.port;
    // Each worker builds its own `App` over a clone of the store: one pool, one database.
    let server = match actix_web::HttpServer::new(move || routes::app(started.store.clone()))
        .workers(2)
        // actix's graceful shutdown on Ctrl-C or SIGTERM, with the live dashboard streams told to
        // end: an open dashboard would otherwise hold it for the whole shutdown timeout (30 s).
        .shutdown_signal(async {
            stop_signal().await;
            eprintln!("stopping: finishing the requests in flight");
            spyglass::global().end_streams();
        })
        .bind(("127.0.0.1", port))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.addrs()[0];
    startup::serving(addr, started.args.demo);
    // actix-web stops gracefully on Ctrl-C / SIGTERM by itself; dropping `started` afterwards
    // flushes every recorded event to the exporters.
    if let Err(e) = server.run().await {
        eprintln!("server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Ctrl-C or SIGTERM, the signals actix handles itself when no shutdown future is given.
#[cfg(unix)]
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot watch SIGTERM ({e}); stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Ctrl-C: off Unix there is no SIGTERM (actix handles Ctrl-C alone there too).
#[cfg(not(unix))]
async fn stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

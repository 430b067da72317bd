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
// The in-memory `load_user`/`load_orders`/`place_order` there serve the actix twin (which compiles
// this file too); this app reads and writes SQLite through `store`.
#[allow(dead_code)]
mod domain;
mod routes;
mod store;

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: spyglass-example-axum [--port N] [--demo-traffic]\n\
  --port N         port on 127.0.0.1 (default 3000; 0 picks a free one)\n\
  --demo-traffic   send realistic traffic to the app itself";

struct Args {
    port: u16,
    demo: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 3000,
        demo: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--demo-traffic" => args.demo = true,
            "--port" => {
                let v = it.next().ok_or("--port needs a value")?;
                args.port = v
                    .parse()
                    .map_err(|_| format!("--port must be a number in 0..=65535, got '{v}'"))?;
            }
            s if s.starts_with("--port=") => {
                let v = &s["--port=".len()..];
                args.port = v
                    .parse()
                    .map_err(|_| format!("--port must be a number in 0..=65535, got '{v}'"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // One short line per handler panic instead of the default multi-line report: the demo traffic
    // hits the panicking route on purpose.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("panic: {msg} (turned into a 500 by SpyglassLayer)");
    }));
    // Install the global instance: service name "shop" unless OTEL_SERVICE_NAME says otherwise, and the
    // exporters the environment asks for (a malformed variable is an error naming it).
    spyglass::exporters::register_env();
    let _guard = match spyglass::Spyglass::builder()
        .service_name("shop")
        .from_env()
        .install()
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("spyglass: {e}");
            return ExitCode::from(2);
        }
    };

    let store = match store::Store::open().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot create the SQLite database: {e}");
            return ExitCode::FAILURE;
        }
    };

    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("bound address");
    println!("Spyglass dashboard: http://{addr}/_spyglass");
    println!("App: http://{addr}/  (routes: /users/{{id}}, /users/{{id}}/orders, /orders, POST /orders, POST /users, /search?q=, /slow, /error, /panic)");
    if args.demo {
        println!("Sending demo traffic to the app (stop with Ctrl-C)");
        tokio::spawn(demo::run(addr));
        tokio::spawn(demo_db::run(addr));
    }
    let app = routes::router(store);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    // Not a graceful shutdown: an open dashboard keeps its live stream open forever, and Ctrl-C must
    // still stop the app. Dropping `_guard` afterwards flushes every recorded event to the exporters.
    tokio::select! {
        res = server => {
            if let Err(e) = res {
                eprintln!("server error: {e}");
                return ExitCode::FAILURE;
            }
        }
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    ExitCode::SUCCESS
}

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
//! The business logic (`domain.rs`), the SQLite store (`store.rs`) and the demo traffic (`demo.rs`,
//! `demo_db.rs`) are the axum example's own files, compiled in here, so the two examples cannot
//! drift; only the handlers (`routes.rs`) and the server setup below differ.
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
// Its in-memory `load_user`/`load_orders`/`place_order` go unused here as in the axum app: both read
// and write SQLite through `store`.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "../../axum-app/src/domain.rs"]
mod domain;
mod routes;
#[rustfmt::skip]
#[path = "../../axum-app/src/store.rs"]
mod store;

use std::process::ExitCode;

const USAGE: &str = "usage: spyglass-example-actix [--port N] [--demo-traffic]\n\
  --port N         port on 127.0.0.1 (default 3001; 0 picks a free one)\n\
  --demo-traffic   send realistic traffic to the app itself";

struct Args {
    port: u16,
    demo: bool,
}

fn parse_port(v: &str) -> Result<u16, String> {
    v.parse()
        .map_err(|_| format!("--port must be a number in 0..=65535, got '{v}'"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 3001,
        demo: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--demo-traffic" => args.demo = true,
            "--port" => args.port = parse_port(&it.next().ok_or("--port needs a value")?)?,
            s if s.starts_with("--port=") => args.port = parse_port(&s["--port=".len()..])?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(args)
}

#[actix_web::main]
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
        eprintln!("panic: {msg} (turned into a 500 by the Spyglass middleware)");
    }));
    // Install the global instance: service name "shop" unless OTEL_SERVICE_NAME says otherwise, and
    // the exporters the environment asks for (a malformed variable is an error naming it).
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

    // Each worker builds its own `App` over a clone of the store: one pool, one database.
    let server = match actix_web::HttpServer::new(move || routes::app(store.clone()))
        .workers(2)
        .bind(("127.0.0.1", args.port))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let addr = server.addrs()[0];
    println!("Spyglass dashboard: http://{addr}/_spyglass");
    println!("App: http://{addr}/  (routes: /users/{{id}}, /users/{{id}}/orders, /orders, POST /orders, POST /users, /search?q=, /slow, /error, /panic)");
    if args.demo {
        println!("Sending demo traffic to the app (stop with Ctrl-C)");
        tokio::spawn(demo::run(addr));
        tokio::spawn(demo_db::run(addr));
    }
    // actix-web stops gracefully on Ctrl-C / SIGTERM by itself.
    if let Err(e) = server.run().await {
        eprintln!("server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! HTTP load comparison: the same axum app served bare, with `SpyglassLayer`, with tower-http's
//! `TraceLayer` under a `tracing` subscriber (formatting every request's events into a sink), and with
//! `axum-prometheus`. Each variant runs as its own server process pinned to core 0; `wrk` (Debian
//! package `wrk`) pinned to core 1 loads `GET /users/{id}` over loopback: 1 thread, 32 keep-alive
//! connections, 2 s warm-up then 8 s measured, one run per variant.
//!
//! ```text
//! cargo run --release -p spyglass-benches-http-load --bin http-load                 # all variants, one run
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- --rounds 3 --secs 5
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- bare spyglass
//! ```
//!
//! Results, with the machine and how to read them: `benches/README.md` (Middleware). Rounds run
//! the variants interleaved in a rotating order; besides each variant's median round, the table
//! gives the median over rounds of its throughput over bare's in the same round. The runner (server
//! processes, wrk, rounds, table) is this package's library, shared with
//! `spyglass-actix/benches/load.rs`; this file holds the apps.

use std::process::ExitCode;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use spyglass_benches_http_load::Harness;

const HARNESS: Harness = Harness {
    variants: &[
        ("bare", "bare axum"),
        ("spyglass", "SpyglassLayer"),
        (
            "trace",
            "tower-http TraceLayer + tracing-subscriber fmt (sink)",
        ),
        ("prometheus", "axum-prometheus"),
    ],
    // Diagnostic: the layer with recording switched off.
    hidden: &["spyglass-disabled"],
    default_secs: 8,
    warmup_secs: 2,
    vs_bare_header: "vs bare: throughput, p99, CPU",
    vs_bare: |throughput, p99, cpu| format!("{:.1} %, ×{p99:.2}, ×{cpu:.2}", 100.0 * throughput),
};

async fn user(Path(id): Path<u64>) -> String {
    format!(r#"{{"id":{id},"name":"user-{id}"}}"#)
}

fn routes() -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/health", get(|| async { "ok" }))
}

fn app(variant: &str) -> Result<Router, String> {
    Ok(match variant {
        "bare" => routes(),
        "spyglass" => routes().layer(spyglass::axum::SpyglassLayer::new()),
        // Diagnostic, not in the default set: the layer with recording switched off.
        "spyglass-disabled" => {
            let sg = spyglass::Spyglass::builder()
                .enabled(false)
                .build()
                .map_err(|e| e.to_string())?;
            routes().layer(spyglass::axum::SpyglassLayer::with_instance(sg))
        }
        "trace" => {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(std::io::sink)
                .init();
            routes().layer(tower_http::trace::TraceLayer::new_for_http())
        }
        "prometheus" => {
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            routes()
                .route("/metrics", get(move || async move { handle.render() }))
                .layer(layer)
        }
        other => return Err(format!("unknown variant '{other}'")),
    })
}

/// Server mode: `http-load --serve VARIANT`; prints `listening on PORT`.
fn serve(variant: &str) -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // Built inside the runtime: axum-prometheus spawns its upkeep task on creation.
    let app = match rt.block_on(async { app(variant) }) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("listening on {}", l.local_addr().expect("addr").port());
        axum::serve(
            l,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    HARNESS.main(serve)
}

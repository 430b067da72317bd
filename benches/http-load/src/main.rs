//! HTTP load comparison: the same axum app served bare, with `SpyglassLayer`, with tower-http's
//! `TraceLayer` under a `tracing` subscriber (formatting every request's events into a sink), and with
//! `axum-prometheus`. Each variant runs as its own server process pinned to core 0; `wrk` (Debian
//! package `wrk`) pinned to core 1 loads `GET /users/{id}` over loopback: 1 thread, 32 keep-alive
//! connections, 2 s warm-up then 8 s measured, one run per variant. The app is `plain` (a handler
//! that formats a string) or, with `--app shop`, the example app's SQLite-backed `GET /users/{id}`,
//! or with `--app shop-sqlx` that handler without Spyglass in it (a plain sqlx pool, no
//! `#[instrument]`: the app the same for every variant, the middleware the only difference).
//! Hidden diagnostic variants: `noop` (a layer that does nothing: what `Router::layer` itself
//! costs), `noop-header` (a layer adding a fixed `traceparent` header), `noop-traceparent` (a layer
//! adding a fresh, validated `traceparent` per request: the least the issue's header requirement
//! costs, recording nothing), `spyglass-q8192` and `spyglass-q256` (the global instance with a
//! queue of 8192 or 256 events instead of 2048: its collector wakes a quarter as often, or its
//! ring is 39 KB instead of 311 KB), `spyglass-disabled`, and
//! `spyglass-layer` (the layer recording into an instance of its own while the global one is off:
//! on `shop`, the request only, without the function and the query).
//!
//! ```text
//! cargo run --release -p spyglass-benches-http-load --bin http-load                 # all variants, one run
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- --rounds 3 --secs 5
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- --app shop --rounds 3
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- bare noop spyglass
//! ```
//!
//! Results, with the machine and how to read them: `benches/README.md` (Middleware). Rounds run
//! the variants interleaved in a rotating order; besides each variant's median round, the table
//! gives the median over rounds of its throughput over bare's in the same round. The runner (server
//! processes, wrk, rounds, table) is this package's library, shared with
//! `spyglass-actix/benches/load.rs`; this file holds the apps.

use std::process::ExitCode;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use spyglass_benches_http_load::Harness;

// The example app's files (formatted and linted with it, their owner), of which the `shop` app
// uses one handler's path.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "../../../examples/axum-app/src/domain.rs"]
mod domain;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "../../../examples/axum-app/src/store.rs"]
mod store;
mod uninstrumented;

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
    // Diagnostics (see the crate docs): the layer with recording switched off or recording the
    // request only, a layer that does nothing (what axum's `Router::layer` costs by itself), one
    // that adds a fixed `traceparent` header, one that adds a fresh one per request, and the
    // layer with a queue four times the default (its collector woken a quarter as often).
    hidden: &[
        "spyglass-disabled",
        "spyglass-layer",
        "noop",
        "noop-header",
        "noop-traceparent",
        "spyglass-q8192",
        "spyglass-q256",
    ],
    default_secs: 8,
    warmup_secs: 2,
    vs_bare_header: "vs bare: throughput, p99, CPU",
    vs_bare: |throughput, p99, cpu| format!("{:.1} %, ×{p99:.2}, ×{cpu:.2}", 100.0 * throughput),
};

async fn user(Path(id): Path<u64>) -> String {
    format!(r#"{{"id":{id},"name":"user-{id}"}}"#)
}

/// The `plain` app: a handler that formats a string.
fn plain() -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/health", get(|| async { "ok" }))
}

/// The `shop` app: the example app's `GET /users/{id}`, the `#[spyglass::instrument]`ed
/// `load_user` querying its seeded in-memory SQLite database through sqlx and
/// `spyglass::sqlx::InstrumentedPool`, answered as JSON. Every variant but `spyglass` and
/// the [`queue_size`] ones runs with the global instance switched off ([`install_global`]), so the
/// function and query instrumentation (compiled in, as in the example) records nothing there.
async fn shop() -> Result<Router, String> {
    let store = store::Store::open().await.map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route(
            "/users/{id}",
            get(
                |State(store): State<store::Store>, Path(id): Path<u64>| async move {
                    store::load_user(&store, id).await.map(Json)
                },
            ),
        )
        .with_state(store))
}

/// The `shop-sqlx` app: `shop`'s handler without Spyglass in it ([`uninstrumented`]). No variant
/// installs a global instance: `spyglass` is `SpyglassLayer::new()` on its default, created at the
/// first request, as a user adding the layer to this app gets it.
async fn shop_sqlx() -> Result<Router, String> {
    let store = uninstrumented::PlainStore::open()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route(
            "/users/{id}",
            get(
                |State(store): State<uninstrumented::PlainStore>, Path(id): Path<u64>| async move {
                    store.load_user(id).await.map(Json)
                },
            ),
        )
        .with_state(store))
}

/// The queue size of the hidden variants that run `SpyglassLayer` on a global instance with a
/// queue other than the default 2048 events.
fn queue_size(variant: &str) -> Option<usize> {
    match variant {
        "spyglass-q8192" => Some(8192),
        "spyglass-q256" => Some(256),
        _ => None,
    }
}

/// Installs the global instance, kept for the life of the server process: recording only for the
/// variants that record through it (`spyglass`, and the [`queue_size`] variants), switched
/// off for the others. Without it (`plain`, most variants) the layer creates the default lazily.
fn install_global(variant: &str) -> Result<(), String> {
    let mut builder = spyglass::Spyglass::builder()
        .service_name("shop")
        .enabled(variant == "spyglass" || queue_size(variant).is_some())
        .flush_interval(flush_interval()?);
    if let Some(n) = queue_size(variant) {
        builder = builder.queue_size(n);
    }
    let guard = builder.install().map_err(|e| e.to_string())?;
    // A static is never dropped.
    static INSTALLED: std::sync::OnceLock<spyglass::SpyglassGuard> = std::sync::OnceLock::new();
    let _ = INSTALLED.set(guard);
    Ok(())
}

/// The collector's flush interval: 100 ms (the default), or `HTTP_LOAD_FLUSH_MS` milliseconds.
/// `profile.sh --flush-ms` sets it long, so that under valgrind's slow pace the collector still
/// drains when a quarter of its queue waits, as it does under real load.
fn flush_interval() -> Result<std::time::Duration, String> {
    match std::env::var("HTTP_LOAD_FLUSH_MS") {
        Err(_) => Ok(std::time::Duration::from_millis(100)),
        Ok(v) => v
            .parse()
            .map(std::time::Duration::from_millis)
            .map_err(|_| {
                format!("HTTP_LOAD_FLUSH_MS must be a whole number of milliseconds, got '{v}'")
            }),
    }
}

impl IntoResponse for domain::ShopError {
    fn into_response(self) -> Response {
        (StatusCode::NOT_FOUND, self.to_string()).into_response()
    }
}

/// `routes` with the variant's layer.
fn layered(variant: &str, routes: Router) -> Result<Router, String> {
    Ok(match variant {
        "bare" => routes,
        // The global instance, installed by `install_global` for the `queue_size` variants and
        // `shop`.
        v if v == "spyglass" || queue_size(v).is_some() => {
            routes.layer(spyglass::axum::SpyglassLayer::new())
        }
        // Diagnostic, not in the default set: the layer with recording switched off.
        "spyglass-disabled" => {
            let sg = spyglass::Spyglass::builder()
                .enabled(false)
                .build()
                .map_err(|e| e.to_string())?;
            routes.layer(spyglass::axum::SpyglassLayer::with_instance(sg))
        }
        // Diagnostic: the layer recording into an instance of its own while the global one stays
        // off, so on `shop` it records the request only (no function, no query), as the peers do.
        "spyglass-layer" => {
            let sg = spyglass::Spyglass::builder()
                .service_name("shop")
                .build()
                .map_err(|e| e.to_string())?;
            routes.layer(spyglass::axum::SpyglassLayer::with_instance(sg))
        }
        // Diagnostic: a layer that adds a fixed `traceparent` header to each response (what the
        // header alone costs the server and the client).
        "noop-header" => routes.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            http::HeaderName::from_static("traceparent"),
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        )),
        // Diagnostic: the least a layer meeting the issue's `traceparent` requirement does, with
        // no recording: a fresh trace context per request, its `traceparent` formatted, validated
        // and inserted into the response (not even the request's header is read). A floor for any
        // implementation.
        "noop-traceparent" => {
            routes.layer(tower::util::MapResponseLayer::new(|mut resp: Response| {
                let ctx = spyglass::TraceContext::new_root(true);
                if let Ok(v) =
                    http::HeaderValue::from_maybe_shared(spyglass::context::traceparent_bytes(&ctx))
                {
                    resp.headers_mut()
                        .insert(http::HeaderName::from_static("traceparent"), v);
                }
                resp
            }))
        }
        // Diagnostic: a layer that forwards each request untouched.
        "noop" => routes.layer(tower::util::MapRequestLayer::new(|r| r)),
        "trace" => {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(std::io::sink)
                .init();
            routes.layer(tower_http::trace::TraceLayer::new_for_http())
        }
        "prometheus" => {
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            routes
                .route("/metrics", get(move || async move { handle.render() }))
                .layer(layer)
        }
        other => return Err(format!("unknown variant '{other}'")),
    })
}

/// Server mode: `http-load --serve VARIANT APP`; prints `listening on PORT`.
fn serve(variant: &str, app: &str) -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // Built inside the runtime: axum-prometheus spawns its upkeep task on creation.
    let app = match rt.block_on(async {
        if app == "shop" || queue_size(variant).is_some() {
            install_global(variant)?;
        }
        let routes = match app {
            "shop" => shop().await?,
            "shop-sqlx" => shop_sqlx().await?,
            _ => plain(),
        };
        layered(variant, routes)
    }) {
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

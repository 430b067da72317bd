//! Load comparison over loopback: the same actix-web app served bare, with a pass-through middleware,
//! wrapped in `spyglass_actix::Spyglass`, and wrapped in `actix-web-prom` (the middleware an actix
//! user would otherwise pick). Each variant runs as its own server process (this binary, re-executed with
//! `--serve VARIANT`, one actix worker) pinned to core 0; `wrk` (Debian package `wrk`) pinned to
//! core 1 loads `GET /users/{id}` over loopback: 1 thread, 32 keep-alive connections, 1 s warm-up then
//! `--secs` (default 5) measured, one run per variant (or `--rounds N`, interleaved, medians), same
//! client for all. Besides wrk's requests/s and p99, the server process's CPU time per request is
//! read from `/proc`.
//!
//! ```text
//! cargo bench -p spyglass-actix --bench load                     # all variants, 5 s each
//! cargo bench -p spyglass-actix --bench load -- --secs 5 bare spyglass
//! cargo bench -p spyglass-actix --bench load -- --rounds 3   # interleaved rounds, medians
//! cargo bench -p spyglass-actix --bench load -- --app shop --rounds 3  # the example's SQLite route
//! cargo bench -p spyglass-actix --bench load -- --app shop-sqlx --rounds 3  # the same, no Spyglass in it
//! ```
//!
//! Results, with the machine and how to read them: `benches/README.md` (Middleware). Rounds run
//! the variants interleaved in a rotating order; besides each variant's median round, the table
//! gives the median over rounds of its throughput over bare's in the same round. The runner (server
//! processes, wrk, rounds, table) is `benches/http-load`'s library, shared with the axum harness;
//! this file holds the apps.

use std::process::ExitCode;

use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use spyglass_benches_http_load::Harness;

// The example app's files (formatted and linted with the axum example, their owner), of which the
// `shop` app uses one handler's path.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "../../examples/axum-app/src/domain.rs"]
mod domain;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "../../examples/axum-app/src/store.rs"]
mod store;
// The `shop-sqlx` app's store, shared with the axum harness.
#[path = "../../benches/http-load/src/uninstrumented.rs"]
mod uninstrumented;

const HARNESS: Harness = Harness {
    variants: &[
        ("bare", "bare actix-web"),
        (
            "noop",
            "a pass-through `wrap_fn` (what any middleware costs)",
        ),
        ("spyglass", "spyglass_actix::Spyglass"),
        ("prometheus", "actix-web-prom 0.10"),
    ],
    // Diagnostics: a pass-through middleware adding a fresh, validated `traceparent` per request
    // (the least the header requirement costs, recording nothing), and the middleware recording
    // into an instance of its own while the global one stays off (on `shop`, the request only,
    // without the function and the query, as the peer records).
    hidden: &["noop-traceparent", "spyglass-layer"],
    default_secs: 5,
    warmup_secs: 1,
    vs_bare_header: "vs bare",
    vs_bare: |throughput, p99, cpu| {
        format!(
            "{:.1} % of the throughput, p99 ×{p99:.2}, CPU ×{cpu:.3}",
            100.0 * throughput
        )
    },
};

async fn user(id: web::Path<u64>) -> String {
    let id = id.into_inner();
    format!(r#"{{"id":{id},"name":"user-{id}"}}"#)
}

fn plain(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}", web::get().to(user))
        .route("/health", web::get().to(|| async { "ok" }));
}

impl ResponseError for domain::ShopError {
    fn error_response(&self) -> HttpResponse {
        HttpResponse::NotFound().body(self.to_string())
    }
}

async fn shop_user(
    store: web::Data<store::Store>,
    id: web::Path<u64>,
) -> Result<web::Json<domain::User>, domain::ShopError> {
    store::load_user(&store, id.into_inner())
        .await
        .map(web::Json)
}

async fn shop_sqlx_user(
    store: web::Data<uninstrumented::PlainStore>,
    id: web::Path<u64>,
) -> Result<web::Json<domain::User>, domain::ShopError> {
    store.load_user(id.into_inner()).await.map(web::Json)
}

/// The `shop` app: the example app's `GET /users/{id}`, the `#[spyglass::instrument]`ed
/// `load_user` querying its seeded in-memory SQLite database through sqlx and
/// `spyglass::sqlx::InstrumentedPool`, answered as JSON. Every variant but `spyglass` installs the
/// global instance switched off, so the function and query instrumentation (compiled in, as in
/// the example) records nothing there.
async fn shop(variant: &str) -> std::io::Result<store::Store> {
    let guard = spyglass::Spyglass::builder()
        .service_name("shop")
        .enabled(variant == "spyglass")
        .install()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Kept for the life of the server process (a static is never dropped).
    static INSTALLED: std::sync::OnceLock<spyglass::SpyglassGuard> = std::sync::OnceLock::new();
    let _ = INSTALLED.set(guard);
    store::Store::open()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Server mode: `load --serve VARIANT APP`; prints `listening on PORT`.
fn serve(variant: &str, app: &str) -> ExitCode {
    // One macro arm per variant: the apps differ in type.
    macro_rules! run {
        ($factory:expr) => {{
            let server = HttpServer::new($factory)
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))?;
            println!("listening on {}", server.addrs()[0].port());
            server.run().await
        }};
    }
    let variant = variant.to_string();
    let app = app.to_string();
    let res = actix_web::rt::System::new().block_on(async move {
        let store = match app.as_str() {
            "shop" => Some(web::Data::new(shop(&variant).await?)),
            _ => None,
        };
        // `shop-sqlx`: `shop`'s handler without Spyglass in it; no variant installs a global
        // instance, so `spyglass` is `Spyglass::new()` on its default, as a user gets it.
        let plain_store = match app.as_str() {
            "shop-sqlx" => Some(web::Data::new(
                uninstrumented::PlainStore::open()
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
            )),
            _ => None,
        };
        // The app's routes, the same in every variant.
        let routes = move |cfg: &mut web::ServiceConfig| match (&store, &plain_store) {
            (Some(store), _) => {
                cfg.app_data(store.clone())
                    .route("/users/{id}", web::get().to(shop_user));
            }
            (None, Some(store)) => {
                cfg.app_data(store.clone())
                    .route("/users/{id}", web::get().to(shop_sqlx_user));
            }
            (None, None) => plain(cfg),
        };
        match variant.as_str() {
            "bare" => run!(move || App::new().configure(routes.clone())),
            "noop" => run!(move || App::new()
                .configure(routes.clone())
                .wrap_fn(|req, srv| actix_web::dev::Service::call(srv, req))),
            "spyglass" => run!(move || App::new()
                .configure(routes.clone())
                .wrap(spyglass_actix::Spyglass::new())),
            "noop-traceparent" => run!(move || App::new().configure(routes.clone()).wrap_fn(
                |req, srv| {
                    let fut = actix_web::dev::Service::call(srv, req);
                    async move {
                        let mut res = fut.await?;
                        let ctx = spyglass::TraceContext::new_root(true);
                        if let Ok(v) = actix_web::http::header::HeaderValue::from_maybe_shared(
                            spyglass::context::traceparent_bytes(&ctx),
                        ) {
                            res.headers_mut().insert(
                                actix_web::http::header::HeaderName::from_static("traceparent"),
                                v,
                            );
                        }
                        Ok(res)
                    }
                }
            )),
            "spyglass-layer" => {
                let sg = spyglass::Spyglass::builder()
                    .service_name("shop")
                    .build()
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                run!(move || App::new()
                    .configure(routes.clone())
                    .wrap(spyglass_actix::Spyglass::with_instance(sg.clone())))
            }
            "prometheus" => {
                let prom = actix_web_prom::PrometheusMetricsBuilder::new("api")
                    .endpoint("/metrics")
                    .build()
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                run!(move || App::new().configure(routes.clone()).wrap(prom.clone()))
            }
            other => Err(std::io::Error::other(format!("unknown variant '{other}'"))),
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    HARNESS.main(serve)
}

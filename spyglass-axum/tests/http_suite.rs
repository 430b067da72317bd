//! The shared HTTP behaviour suite (`testing/http-suite`) against the axum adapter, over real loopback
//! HTTP. One process per test: run with `cargo nextest`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use http::{Request, Response};
use spyglass_axum::SpyglassLayer;
use spyglass_core::{Labels, TraceContext};
use spyglass_http_suite::{work, AppConfig, Harness};

/// The suite's test app on axum (routes listed in the suite's crate docs), with the layer last.
fn app(cfg: &AppConfig) -> Router {
    let routes = routes();
    if !cfg.label_hooks {
        return routes.layer(SpyglassLayer::new());
    }
    routes.layer(
        SpyglassLayer::new()
            .on_request(|req: &Request<Body>, _: &TraceContext, l: &mut Labels| {
                let tenant = req.headers().get(work::TENANT_HEADER);
                work::label_request(tenant.map(|v| v.as_bytes()), l)
            })
            .on_response(
                |res: &Response<Body>, _: Duration, _: &TraceContext, l: &mut Labels| {
                    work::label_response(res.status().as_u16(), l)
                },
            ),
    )
}

fn routes() -> Router {
    Router::new()
        .route("/users/{id}", get(|Path(id): Path<u64>| work::user(id)))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "failure") }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "missing") }),
        )
        .route(
            "/slow",
            get(|| async {
                work::slow().await;
                "slow"
            }),
        )
        .route(
            "/held",
            get(|| async {
                work::held().await;
                "held"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if work::PANIC_MESSAGE.len() > 1 {
                    panic!("{}", work::PANIC_MESSAGE);
                }
                "unreachable"
            }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/bytes/{n}",
            get(|Path(n): Path<usize>| async move { work::bytes(n) }),
        )
        .route("/nested", get(work::nested))
        .route(
            "/stream",
            get(|| async {
                axum::body::Body::from_stream(futures_util::stream::iter(
                    (0..work::STREAM_CHUNKS)
                        .map(|i| Ok::<_, std::convert::Infallible>(work::chunk(i))),
                ))
            }),
        )
        .route("/health", get(|| async { "ok" }))
}

struct Axum;

impl Harness for Axum {
    async fn start(&self, cfg: &AppConfig) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind((cfg.bind, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(cfg);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        addr
    }
}

spyglass_http_suite::http_suite!(Axum);

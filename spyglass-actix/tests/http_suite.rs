//! The shared HTTP behaviour suite (`testing/http-suite`) against the actix adapter, over real
//! loopback HTTP, unchanged: the same cases, the same routes as the axum test app. One process per
//! test: run with `cargo nextest`.
//!
//! The app runs on its own thread under an actix system (actix workers are single-threaded runtimes
//! of their own), so it serves while the suite's tokio runtime drives the client.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use spyglass_actix::Spyglass;
use spyglass_core::{Labels, TraceContext};
use spyglass_http_suite::{work, AppConfig, Harness};

/// The suite's routes (listed in the suite's crate docs).
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/users/{id}",
        web::get().to(|id: web::Path<u64>| work::user(id.into_inner())),
    )
    .route(
        "/error",
        web::get().to(|| async { HttpResponse::InternalServerError().body("failure") }),
    )
    .route(
        "/missing",
        web::get().to(|| async { HttpResponse::build(StatusCode::NOT_FOUND).body("missing") }),
    )
    .route(
        "/slow",
        web::get().to(|| async {
            work::slow().await;
            "slow"
        }),
    )
    .route(
        "/held",
        web::get().to(|| async {
            work::held().await;
            "held"
        }),
    )
    .route(
        "/panic",
        web::get().to(|| async {
            if work::PANIC_MESSAGE.len() > 1 {
                panic!("{}", work::PANIC_MESSAGE);
            }
            "unreachable"
        }),
    )
    .route(
        "/echo",
        web::post().to(|body: web::Bytes| async move { body }),
    )
    .service(
        // axum's `get` answers `HEAD` too; actix routes it on its own.
        web::resource("/bytes/{n}")
            .route(web::get().to(bytes))
            .route(web::head().to(bytes)),
    )
    .route("/nested", web::get().to(work::nested))
    .route(
        "/stream",
        web::get().to(|| async {
            actix_web::HttpResponse::Ok()
                .streaming(futures_util::stream::iter((0..work::STREAM_CHUNKS).map(
                    |i| Ok::<_, std::io::Error>(web::Bytes::from(work::chunk(i))),
                )))
        }),
    )
    .route("/health", web::get().to(|| async { "ok" }));
}

/// `/bytes/{n}`'s handler.
async fn bytes(n: web::Path<usize>) -> Vec<u8> {
    work::bytes(n.into_inner())
}

/// The suite's test app on actix-web, with the middleware's default options.
fn app() -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().configure(routes).wrap(Spyglass::new())
}

/// The suite's test app with hooks that label each request (`AppConfig::label_hooks`).
fn labelled_app() -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().configure(routes).wrap(
        Spyglass::new()
            .on_request(|req: &ServiceRequest, _: &TraceContext, l: &mut Labels| {
                let tenant = req.headers().get(work::TENANT_HEADER);
                work::label_request(tenant.map(|v| v.as_bytes()), l)
            })
            .on_response(
                |res: &ServiceResponse<_>, _: Duration, _: &TraceContext, l: &mut Labels| {
                    work::label_response(res.status().as_u16(), l)
                },
            ),
    )
}

struct Actix;

impl Harness for Actix {
    // actix-web runs a handler whose client has gone to its end (seen here: the request is
    // answered, and recorded with its handler's status). A request future dropped for another
    // reason (an outer timeout) is recorded as cancelled: `tests/middleware_options.rs`.
    const DROPS_HANDLERS_OF_GONE_CLIENTS: bool = false;

    async fn start(&self, cfg: &AppConfig) -> SocketAddr {
        let (bind, labelled) = (cfg.bind, cfg.label_hooks);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                // The two apps differ in type: one expansion each.
                macro_rules! run {
                    ($factory:expr) => {{
                        let server = HttpServer::new($factory)
                            .workers(2)
                            .disable_signals()
                            .bind((bind, 0))
                            .expect("bind the test app");
                        let addr = server.addrs()[0];
                        let running = server.run();
                        tx.send(addr).expect("the test waits for the address");
                        running.await.expect("the test app serves");
                    }};
                }
                if labelled {
                    run!(labelled_app)
                } else {
                    run!(app)
                }
            })
        });
        rx.await.expect("the actix test app started")
    }
}

spyglass_http_suite::http_suite!(Actix);

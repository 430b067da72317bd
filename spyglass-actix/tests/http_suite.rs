//! The shared HTTP behaviour suite (`testing/http-suite`) against the actix adapter, over real
//! loopback HTTP, unchanged: the same cases, the same routes as the axum test app. One process per
//! test: run with `cargo nextest`.
//!
//! The app runs on its own thread under an actix system (actix workers are single-threaded runtimes
//! of their own), so it serves while the suite's tokio runtime drives the client.

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use spyglass_http_suite::{work, AppConfig, Harness};

/// The suite's test app on actix-web (routes listed in the suite's crate docs).
fn app() -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route(
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
        .route(
            "/bytes/{n}",
            web::get().to(|n: web::Path<usize>| async move { work::bytes(n.into_inner()) }),
        )
        .route("/nested", web::get().to(work::nested))
        .route("/health", web::get().to(|| async { "ok" }))
        .wrap(spyglass_actix::Spyglass::new())
}

struct Actix;

impl Harness for Actix {
    // actix-web runs a handler whose client has gone to its end (seen here: the request is
    // answered, and recorded with its handler's status). A request future dropped for another
    // reason (an outer timeout) is recorded as cancelled: `tests/middleware_options.rs`.
    const DROPS_HANDLERS_OF_GONE_CLIENTS: bool = false;

    async fn start(&self, cfg: &AppConfig) -> SocketAddr {
        let bind = cfg.bind;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(app)
                    .workers(2)
                    .disable_signals()
                    .bind((bind, 0))
                    .expect("bind the test app");
                let addr = server.addrs()[0];
                let running = server.run();
                tx.send(addr).expect("the test waits for the address");
                running.await.expect("the test app serves");
            })
        });
        rx.await.expect("the actix test app started")
    }
}

spyglass_http_suite::http_suite!(Actix);

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
//! ```
//!
//! Results, with the machine and how to read them: `benches/README.md` (Middleware). Rounds run
//! the variants interleaved in a rotating order; besides each variant's median round, the table
//! gives the median over rounds of its throughput over bare's in the same round. The runner (server
//! processes, wrk, rounds, table) is `benches/http-load`'s library, shared with the axum harness;
//! this file holds the apps.

use std::process::ExitCode;

use actix_web::{web, App, HttpServer};
use spyglass_benches_http_load::Harness;

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
    hidden: &[],
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

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}", web::get().to(user))
        .route("/health", web::get().to(|| async { "ok" }));
}

/// Server mode: `load --serve VARIANT`; prints `listening on PORT`.
fn serve(variant: &str) -> ExitCode {
    // One macro arm per variant: the three apps differ in type.
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
    let res = actix_web::rt::System::new().block_on(async move {
        match variant.as_str() {
            "bare" => run!(|| App::new().configure(routes)),
            "noop" => run!(|| App::new()
                .configure(routes)
                .wrap_fn(|req, srv| actix_web::dev::Service::call(srv, req))),
            "spyglass" => run!(|| App::new()
                .configure(routes)
                .wrap(spyglass_actix::Spyglass::new())),
            "prometheus" => {
                let prom = actix_web_prom::PrometheusMetricsBuilder::new("api")
                    .endpoint("/metrics")
                    .build()
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                run!(move || App::new().configure(routes).wrap(prom.clone()))
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

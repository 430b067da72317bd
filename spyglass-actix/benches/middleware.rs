//! The request path in process, without sockets: the same actix-web app (real routing, extractor and
//! responder) called through `actix_web::test::init_service` bare, with a pass-through middleware,
//! with `spyglass_actix::Spyglass`, and with `actix-web-prom`, each request's body sent to its end.
//! This isolates what each middleware costs on the serving thread (the Spyglass collector thread runs
//! on the other core and is not counted here; `benches/load.rs` counts the whole process).
//!
//! ```text
//! cargo bench -p spyglass-actix --bench middleware
//! ```
//!
//! Results (criterion, point estimate [95 % interval]; AMD EPYC, 2 shared vCPUs with other builds
//! running; rustc 1.95.0, Debian 12, bench profile):
//!
//! | variant | time per request | vs bare |
//! | --- | ---: | ---: |
//! | bare actix-web | 1.63 µs [1.58, 1.69] | 1.00 |
//! | pass-through `wrap_fn` | 1.78 µs [1.64, 1.93] | 1.09 |
//! | spyglass_actix::Spyglass | 2.45 µs [2.35, 2.56] | 1.50 (+0.82 µs) |
//! | actix-web-prom 0.10 | 2.43 µs [2.29, 2.57] | 1.49 (+0.79 µs) |
//!
//! A run five minutes earlier on the same machine gave bare 1.75 µs, Spyglass 2.99 µs, actix-web-prom
//! 2.22 µs: the spread between runs is as large as the difference between the two middlewares.
//! Spyglass's extra time is the emit (stats store update and queue push, contended by the collector
//! thread popping on the other core), actix's `match_pattern()` `String`, the `traceparent` header
//! (rendered and validated) and the context switch around the handler.

use actix_web::dev::Service;
use actix_web::test::init_service;
use actix_web::App;
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "support/app.rs"]
mod app;
use app::{one, routes};

fn bench(c: &mut Criterion) {
    let rt = actix_web::rt::System::new();
    let mut g = c.benchmark_group("actix GET /users/{id}");
    macro_rules! case {
        ($name:expr, $app:expr) => {{
            let app = rt.block_on($app);
            g.bench_function($name, |b| b.iter(|| rt.block_on(one(&app))));
        }};
    }
    case!("bare", init_service(App::new().configure(routes)));
    case!(
        "noop",
        init_service(
            App::new()
                .configure(routes)
                .wrap_fn(|req, srv| Service::call(srv, req))
        )
    );
    case!(
        "spyglass",
        init_service(
            App::new()
                .configure(routes)
                .wrap(spyglass_actix::Spyglass::new())
        )
    );
    case!("actix-web-prom", async {
        let prom = actix_web_prom::PrometheusMetricsBuilder::new("api")
            .endpoint("/metrics")
            .build()
            .unwrap();
        init_service(App::new().configure(routes).wrap(prom)).await
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

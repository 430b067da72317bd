//! The request's trace context carried into work a handler hands to another task or thread, as the
//! crate docs show: `web::block(spyglass::context::in_current_context(..))` and
//! `actix_web::rt::spawn(fut.in_current_context())`. Over real loopback HTTP, recording into the
//! global instance (where `#[instrument]`ed functions record): this file is its own process.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use spyglass::context::FutureExt as _;
use spyglass::event::EventKind;
use spyglass::export::InMemoryExporter;
use spyglass_http_suite::{eventually, App as Client};

/// Runs on actix's blocking pool, another thread than the handler's.
#[spyglass::instrument]
fn blocking_step(n: u32) -> u32 {
    n * 2
}

/// Runs in a task of its own, spawned by the handler on the worker.
#[spyglass::instrument]
async fn spawned_step(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n + 1
}

async fn blocking() -> String {
    let n = web::block(spyglass::context::in_current_context(|| blocking_step(21)))
        .await
        .expect("the blocking pool ran it");
    n.to_string()
}

async fn spawned() -> String {
    // The async block is polled by the spawned task, outside the handler: the wrapper installs the
    // request's context at each poll, so `spawned_step` starts its span under the request.
    let task = actix_web::rt::spawn(async { spawned_step(41).await }.in_current_context());
    task.await.expect("the task ran").to_string()
}

#[tokio::test]
async fn functions_run_by_web_block_and_rt_spawn_nest_under_the_request() {
    let mem = InMemoryExporter::new();
    let _guard = spyglass::Spyglass::builder()
        .exporter(mem.clone())
        .flush_interval(Duration::from_millis(10))
        .install()
        .expect("the only global instance of this process");
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new()
                    .route("/blocking", web::get().to(blocking))
                    .route("/spawned", web::get().to(spawned))
                    .wrap(spyglass::actix::Spyglass::new())
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        })
    });
    let app = Client::new(
        rx.recv_timeout(Duration::from_secs(30))
            .expect("server started"),
    );

    for (path, func, answer) in [
        ("/blocking", "blocking_step", "42"),
        ("/spawned", "spawned_step", "42"),
    ] {
        let a = app.get(path).await;
        assert_eq!((a.status, a.text().as_str()), (200, answer), "{path}");
        let req = spyglass::TraceContext::from_traceparent(
            a.header("traceparent").expect("traceparent").as_bytes(),
        )
        .expect("a valid traceparent");
        let ev = eventually(|| async {
            assert!(spyglass::global().flush(Duration::from_secs(10)));
            mem.events()
                .into_iter()
                .find(|e| matches!(&e.kind, EventKind::Fn(f) if f.name == func))
        })
        .await
        .unwrap_or_else(|| panic!("{func} recorded: {:?}", mem.events()));
        assert_eq!(
            ev.trace_id,
            req.trace_id(),
            "{func} is in the request's trace"
        );
        assert_eq!(
            ev.parent_span_id,
            Some(req.span_id()),
            "{func} is a child of the request's span"
        );
    }
}

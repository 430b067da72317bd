//! The dashboard of one instance behind `SpyglassLayer` on an axum router with no routes of its
//! own, fed synthetic traffic, with a stats window of the caller's choice: what the page's browser
//! check (`scripts/check.d/32-browser-page.sh`) opens, so that the page can be run against an
//! instance built with any [`StatsConfig`].
//!
//! ```text
//! cargo run -p spyglass-axum --example check_server -- --port 0 --window 300
//! ```
//!
//! It prints `Spyglass dashboard: http://127.0.0.1:PORT/_spyglass` once it listens. The traffic:
//! 200 requests a second, 49 of each 50 to `GET /fast` (1 ms, a function and a query under each)
//! and one to `GET /slow` (100 ms, failing with a 500): the service's p95 is 1 ms and its p99
//! 100 ms, while the slow route's own p95 is 100 ms.

use std::net::SocketAddr;
use std::time::Duration;

use spyglass_axum::SpyglassLayer;
use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::stats::StatsConfig;
use spyglass_core::Spyglass;
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let (mut port, mut window) = (0u16, 300u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (a.as_str(), value) {
            ("--port", Some(v)) => port = u16::try_from(v).expect("--port: 0..=65535"),
            ("--window", Some(v)) if v > 0 => window = v,
            _ => {
                eprintln!("usage: check_server [--port N] [--window SECS]");
                std::process::exit(2);
            }
        }
    }
    let sg = Spyglass::builder()
        .service_name("check")
        .stats(StatsConfig {
            window: Duration::from_secs(window),
            ..StatsConfig::default()
        })
        .build()
        .expect("a Spyglass instance");
    let traffic = sg.clone();
    std::thread::spawn(move || drive(&traffic));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "Spyglass dashboard: http://{}/_spyglass",
        listener.local_addr()?
    );
    let app = axum::Router::new().layer(SpyglassLayer::with_instance(sg));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The synthetic traffic (see the crate docs), 200 requests a second.
fn drive(sg: &Spyglass) {
    let em = sg.emitter();
    for i in 0u64.. {
        let slow = i % 50 == 0;
        let ctx = sg.new_request_context(None, None);
        ctx.in_scope(|| {
            em.emit_fn("load_item", Duration::from_micros(300), false);
            em.emit_db(
                "SELECT * FROM items WHERE id = 1",
                Duration::from_micros(200),
                Some(1),
            );
        });
        let (route, status, dur) = if slow {
            ("/slow", 500, Duration::from_millis(100))
        } else {
            ("/fast", 200, Duration::from_millis(1))
        };
        em.emit_span(
            ctx,
            dur.as_nanos() as u64,
            EventKind::Req(ReqEvent {
                method: "GET",
                route: route.into(),
                status,
                bytes_in: 0,
                bytes_out: 64,
                error: None,
                labels: Default::default(),
            }),
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

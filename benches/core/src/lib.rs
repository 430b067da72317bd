//! Benchmarks only: see `benches/`. What the criterion benches and the `emit-loop` binary share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An exporter that holds the collector's worker in its first export until released.
#[derive(Debug)]
pub struct Gate(pub Arc<AtomicBool>);

impl spyglass::Exporter for Gate {
    fn export(&mut self, _: &spyglass::export::Batch<'_>) -> Result<(), spyglass::ExportError> {
        while !self.0.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        Ok(())
    }
}

/// The collector's worker alone: `n` function events queued while the worker is held, then timed
/// from its release until every one has been handed to the exporter.
pub fn drain(n: u64) -> Duration {
    timed_drain(n, 512, |sg| {
        let em = sg.emitter();
        for _ in 0..n {
            em.emit_fn("f", Duration::from_micros(1), false);
        }
    })
}

/// Times the collector's worker alone: an instance whose exporter holds the worker in its first
/// export, `fill` queueing `n` events meanwhile, then the time from the worker's release until
/// every one has been handed to the exporter.
fn timed_drain(n: u64, batch_max: usize, fill: impl FnOnce(&spyglass::Spyglass)) -> Duration {
    let release = Arc::new(AtomicBool::new(false));
    let sg = spyglass::Spyglass::builder()
        .exporter(Gate(release.clone()))
        .queue_size(n as usize + 1)
        .batch_max(batch_max)
        .build()
        .expect("build");
    sg.emitter().emit_fn("f", Duration::from_micros(1), false);
    while sg.collector().queue_depth > 0 {
        std::thread::yield_now();
    }
    fill(&sg);
    let start = Instant::now();
    release.store(true, Ordering::Release);
    // Wait on the flush's condition variable: polling the counters would read the queue's head and
    // tail, the very cache lines the worker writes at every pop.
    assert!(sg.flush(Duration::from_secs(60)));
    let t = start.elapsed();
    assert_eq!(sg.collector().exported, n + 1);
    t
}

/// Queues `requests` requests of the example's shape on `sg`: each a request with a function and a
/// query under it, emitted in the order they end (query, function, request).
pub fn emit_traced(sg: &spyglass::Spyglass, requests: u64) {
    use spyglass::event::{EventKind, ReqEvent};
    let em = sg.emitter();
    for _ in 0..requests {
        let ctx = sg.new_request_context(None, None);
        ctx.in_scope(|| {
            em.emit_db(
                "SELECT id, name FROM users WHERE id = ?",
                Duration::from_micros(5),
                Some(1),
            );
            em.emit_fn("load_user", Duration::from_micros(8), false);
        });
        em.emit_span(
            ctx,
            20_000,
            EventKind::Req(ReqEvent {
                method: "GET",
                route: spyglass::Name::from_static("/users/{id}"),
                status: 200,
                bytes_in: 0,
                bytes_out: 120,
                error: None,
                labels: Default::default(),
            }),
        );
    }
}

/// The collector's worker alone on the example's requests (see [`emit_traced`]): three events per
/// request queued while the worker is held, then timed from its release until every one has been
/// counted in the stats, taken in by the flight recorder and handed to the exporter, in batches of
/// the default size.
pub fn drain_traced(requests: u64) -> Duration {
    timed_drain(3 * requests, 128, |sg| emit_traced(sg, requests))
}

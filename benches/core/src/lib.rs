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
    let release = Arc::new(AtomicBool::new(false));
    let sg = spyglass::Spyglass::builder()
        .exporter(Gate(release.clone()))
        .queue_size(n as usize + 1)
        .batch_max(512)
        .build()
        .expect("build");
    let em = sg.emitter();
    em.emit_fn("f", Duration::from_micros(1), false);
    while sg.collector().queue_depth > 0 {
        std::thread::yield_now();
    }
    for _ in 0..n {
        em.emit_fn("f", Duration::from_micros(1), false);
    }
    let start = Instant::now();
    release.store(true, Ordering::Release);
    // Wait on the flush's condition variable: polling the counters would read the queue's head and
    // tail, the very cache lines the worker writes at every pop.
    assert!(sg.flush(Duration::from_secs(60)));
    let t = start.elapsed();
    assert_eq!(sg.collector().exported, n + 1);
    t
}

//! The drop-oldest collector: accounting, batching, shutdown, failing exporters.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spyglass_core::export::{Batch, ExportError, Exporter, InMemoryExporter};
use spyglass_core::{Event, EventKind, Spyglass};

/// Events carry their sequence number as the fn event's duration.
fn seq(e: &Event) -> u64 {
    assert!(matches!(e.kind, EventKind::Fn(_)));
    e.dur_ns
}

fn emit_seq(sg: &Spyglass, n: u64) {
    sg.emitter().emit(Event::function("f", "m", n, false));
}

/// Blocks inside its first export until released, telling the test when it got there.
struct GateExporter {
    entered: mpsc::Sender<()>,
    release: Arc<(Mutex<bool>, std::sync::Condvar)>,
    first: bool,
    inner: InMemoryExporter,
}

impl Exporter for GateExporter {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        if self.first {
            self.first = false;
            self.entered.send(()).unwrap();
            let (lock, cv) = &*self.release;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        self.inner.export(batch)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.inner.shutdown()
    }
}

#[test]
fn full_queue_drops_the_oldest_and_accounts_exactly() {
    const Q: usize = 64;
    let (tx, rx) = mpsc::channel();
    let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let mem = InMemoryExporter::new();
    let sg = Spyglass::builder()
        .queue_size(Q)
        .batch_max(8)
        .flush_interval(Duration::from_millis(5))
        .exporter(GateExporter {
            entered: tx,
            release: release.clone(),
            first: true,
            inner: mem.clone(),
        })
        .build()
        .unwrap();
    // The first event is taken by the worker, which then blocks inside the exporter.
    emit_seq(&sg, 0);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("worker reached the exporter");
    // Now the queue fills and overflows: it must keep the newest Q.
    let total = 10_000u64;
    let start = Instant::now();
    for i in 1..=total {
        emit_seq(&sg, i);
    }
    let producer_time = start.elapsed();
    let mid = sg.collector();
    assert_eq!(mid.queue_depth, Q as u64);
    assert_eq!(mid.dropped, total - Q as u64);
    // The worker is stuck in the exporter, so the stats cannot sync with it: they hold the event it
    // popped and every event displaced (counted by the producer that displaced it), not yet the Q
    // still queued.
    let stuck = sg.stats().snapshot(Duration::from_secs(60));
    assert_eq!(stuck.functions[0].count, total - Q as u64 + 1);
    {
        let (lock, cv) = &*release;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    sg.shutdown();
    let c = sg.collector();
    assert_eq!(c.emitted, total + 1);
    assert_eq!(c.emitted, c.exported + c.dropped);
    assert_eq!(c.dropped, total - Q as u64);
    let got: Vec<u64> = mem.events().iter().map(seq).collect();
    let want: Vec<u64> = std::iter::once(0)
        .chain(total - Q as u64 + 1..=total)
        .collect();
    assert_eq!(
        got, want,
        "the first batch, then exactly the newest Q events"
    );
    assert!(mem.is_shut_down());
    // Stats count every event, dropped or not.
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    assert_eq!(snap.functions[0].count, total + 1);
    // A blocked exporter never blocked the producer (not a timing assertion: a deadlock would
    // never get here). Printed for the curious.
    eprintln!("10k emits into a full queue took {producer_time:?}");
}

#[test]
fn no_event_is_lost_on_shutdown_under_concurrent_producers() {
    let mem = InMemoryExporter::new();
    let threads = 4u64;
    let per = 25_000u64;
    let sg = Spyglass::builder()
        .queue_size((threads * per) as usize)
        .batch_max(256)
        .exporter(mem.clone())
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..threads {
            let sg = &sg;
            s.spawn(move || {
                for i in 0..per {
                    emit_seq(sg, t * per + i);
                }
            });
        }
    });
    sg.shutdown();
    let c = sg.collector();
    assert_eq!(c.emitted, threads * per);
    assert_eq!(c.dropped, 0);
    assert_eq!(c.exported, threads * per);
    let mut got: Vec<u64> = mem.events().iter().map(seq).collect();
    got.sort_unstable();
    assert_eq!(
        got,
        (0..threads * per).collect::<Vec<_>>(),
        "each exactly once"
    );
    assert!(mem.batch_sizes().iter().all(|&n| n <= 256 && n > 0));
    // After shutdown, emits still count in stats and are counted as dropped.
    emit_seq(&sg, 7);
    let after = sg.collector();
    assert_eq!(after.emitted, after.exported + after.dropped);
    assert_eq!(after.dropped, 1);
}

#[test]
fn partial_batches_are_flushed_by_the_interval() {
    let mem = InMemoryExporter::new();
    let sg = Spyglass::builder()
        .batch_max(1000)
        .flush_interval(Duration::from_millis(20))
        .exporter(mem.clone())
        .build()
        .unwrap();
    for i in 0..3 {
        emit_seq(&sg, i);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while mem.events().len() < 3 {
        assert!(Instant::now() < deadline, "interval flush never happened");
        std::thread::yield_now();
    }
    assert_eq!(sg.collector().exported, 3);
}

#[test]
fn flush_waits_for_export_and_exporter_flush() {
    let mem = InMemoryExporter::new();
    let sg = Spyglass::builder()
        .flush_interval(Duration::from_secs(3600))
        .batch_max(1000)
        .exporter(mem.clone())
        .build()
        .unwrap();
    for i in 0..10 {
        emit_seq(&sg, i);
    }
    assert!(sg.flush(Duration::from_secs(10)));
    assert_eq!(mem.events().len(), 10);
    assert!(mem.flushes() >= 1);
}

struct Failing {
    panics: bool,
}

impl Exporter for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn export(&mut self, _: &Batch<'_>) -> Result<(), ExportError> {
        if self.panics {
            panic!("exporter bug");
        }
        Err(ExportError::Other("collector down".into()))
    }
}

#[test]
fn failing_and_panicking_exporters_are_counted_and_do_not_stop_the_others() {
    let mem = InMemoryExporter::new();
    let sg = Spyglass::builder()
        .batch_max(10)
        .exporter(Failing { panics: false })
        .exporter(Failing { panics: true })
        .exporter(mem.clone())
        .build()
        .unwrap();
    for i in 0..30 {
        emit_seq(&sg, i);
    }
    sg.shutdown();
    let c = sg.collector();
    assert_eq!(mem.events().len(), 30, "healthy exporter got everything");
    assert_eq!(c.exported, 30);
    let batches = mem.batch_sizes().len() as u64;
    assert_eq!(
        c.export_errors,
        2 * batches,
        "one error per failing exporter per batch"
    );
}

#[test]
fn emitting_works_outside_and_inside_a_runtime_without_blocking() {
    let mem = InMemoryExporter::new();
    let sg = Spyglass::builder().exporter(mem.clone()).build().unwrap();
    emit_seq(&sg, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async { emit_seq(&sg, 2) });
    drop(rt);
    sg.shutdown();
    assert_eq!(mem.events().len(), 2);
}

#[test]
fn sampling_marks_events_but_stats_count_all_and_errors_are_always_sampled() {
    let mem = InMemoryExporter::new();
    let sg = Spyglass::builder()
        .sample(0.0)
        .exporter(mem.clone())
        .build()
        .unwrap();
    let em = sg.emitter();
    for _ in 0..100 {
        em.emit_req("GET", "/a", 200, Duration::from_millis(1));
    }
    em.emit_req("GET", "/a", 503, Duration::from_millis(1));
    // The same through the other two ways in: a failed call, and a span ended by a middleware.
    em.emit_fn("f", Duration::from_millis(1), true);
    let failed = EventKind::Fn(spyglass_core::event::FnEvent {
        name: "g".into(),
        module: "m".into(),
        error: true,
        error_text: None,
    });
    em.emit_since(em.new_span(), spyglass_core::clock::Instant::now(), failed);
    sg.shutdown();
    let evs = mem.events();
    assert_eq!(evs.len(), 103, "metric exporters see every event");
    assert_eq!(
        evs.iter().filter(|e| e.sampled).count(),
        3,
        "only the errors"
    );
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    assert_eq!(snap.requests[0].count, 101);
    assert_eq!(snap.requests[0].errors, 1);
}

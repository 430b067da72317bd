//! Spyglass's hot path side by side with the peers a user would otherwise pick.
//!
//! Run: `cargo bench -p spyglass-benches-core --bench core`
//!
//! Results: see the table in `benches/README.md` (machine, rustc and figures of the last run).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spyglass_benches_core::Gate;
use spyglass_core::export::{Batch, ExportError, Exporter};
use spyglass_core::{Spyglass, TraceContext};

/// Accepts every batch and does nothing with it.
#[derive(Debug)]
struct NullExporter;

impl Exporter for NullExporter {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        black_box(batch.events.len());
        Ok(())
    }
}

#[spyglass::instrument]
fn instrumented_empty(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
fn plain_empty(x: u64) -> u64 {
    black_box(x)
}

/// Times `iters` calls of `f` in bursts of 1024, letting `sg`'s collector drain (untimed) between
/// bursts.
fn paced(sg: &Spyglass, iters: u64, mut f: impl FnMut()) -> Duration {
    const BURST: u64 = 1024;
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BURST);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        timed += start.elapsed();
        left -= n;
        assert!(sg.flush(Duration::from_secs(10)), "the collector drains");
    }
    timed
}

/// The three emits as a user writes them, with the inputs of SPEC §4; inlined into each bench loop
/// as the user's call would be.
#[inline(always)]
fn emit_fn(em: &spyglass_core::Emitter<'_>) {
    em.emit_fn(
        black_box("expensive_calculation"),
        Duration::from_micros(5),
        false,
    )
}

#[inline(always)]
fn emit_req(em: &spyglass_core::Emitter<'_>) {
    em.emit_req(
        black_box("GET"),
        black_box("/api/users"),
        200,
        Duration::from_millis(15),
    )
}

#[inline(always)]
fn emit_db(em: &spyglass_core::Emitter<'_>) {
    em.emit_db(
        black_box("SELECT * FROM users WHERE id = 42"),
        Duration::from_millis(8),
        Some(100),
    )
}

fn emit(c: &mut Criterion) {
    let sg = Spyglass::builder()
        .exporter(NullExporter)
        .queue_size(1 << 16)
        .build()
        .unwrap();
    let em = sg.emitter();
    let mut g = c.benchmark_group("emit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("emit_fn", |b| b.iter(|| emit_fn(&em)));
    g.bench_function("emit_req", |b| b.iter(|| emit_req(&em)));
    g.bench_function("emit_db", |b| b.iter(|| emit_db(&em)));
    // Whether the loops above outran the collector: then part of their time is the overload path.
    let c = sg.collector();
    eprintln!(
        "emit loops: {} of {} events displaced from the full queue",
        c.dropped, c.emitted
    );
    // The same emits in bursts of 1024, the collector catching up (untimed) between bursts, as it
    // does between bursts in an application: the emit's own cost, without the overload path a loop
    // that only emits ends up on once the collector falls behind.
    g.bench_function("emit_fn, collector keeping up", |b| {
        b.iter_custom(|iters| paced(&sg, iters, || emit_fn(&em)))
    });
    g.bench_function("emit_req, collector keeping up", |b| {
        b.iter_custom(|iters| paced(&sg, iters, || emit_req(&em)))
    });
    g.bench_function("emit_db, collector keeping up", |b| {
        b.iter_custom(|iters| paced(&sg, iters, || emit_db(&em)))
    });
    let off = Spyglass::builder().enabled(false).build().unwrap();
    let off_em = off.emitter();
    g.bench_function("emit_fn_disabled", |b| b.iter(|| emit_fn(&off_em)));
    g.finish();
}

fn instrument(c: &mut Criterion) {
    let mut g = c.benchmark_group("instrument");
    g.throughput(Throughput::Elements(1));
    g.bench_function("plain_fn", |b| b.iter(|| plain_empty(black_box(1))));
    g.bench_function("instrumented_fn", |b| {
        b.iter(|| instrumented_empty(black_box(1)))
    });
    g.finish();
}

fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.bench_function("std::time::Instant::now", |b| {
        b.iter(|| black_box(Instant::now()))
    });
    g.bench_function("spyglass clock::Instant::now", |b| {
        b.iter(|| black_box(spyglass_core::clock::Instant::now()))
    });
    g.bench_function("spyglass clock::unix_nanos", |b| {
        b.iter(|| black_box(spyglass_core::clock::unix_nanos()))
    });
    g.finish();
}

fn context(c: &mut Criterion) {
    let mut g = c.benchmark_group("context");
    let ctx = TraceContext::new_root(true);
    g.bench_function("in_scope+current", |b| {
        b.iter(|| ctx.in_scope(|| black_box(spyglass_core::context::current())))
    });
    g.bench_function("current (none)", |b| {
        b.iter(|| black_box(spyglass_core::context::current()))
    });
    g.bench_function("child span", |b| b.iter(|| black_box(ctx.child())));
    g.finish();
}

/// Events per timed run of the collector throughput benches. A run has a fixed cost (a thread wakes,
/// a flush is answered: about 0.1 ms), so runs are long enough to make it small, and reported per event.
const RUN: u64 = 100_000;
/// Requests (three events each) per timed drain in `collector/worker drain of traced requests`.
const TRACED_RUN: u64 = 10_000;

/// `RUN` events from `producers` threads into a null exporter: time until every one has been
/// emitted and handed to the exporter. This thread sleeps meanwhile (join, then a flush waits on a
/// condition variable), leaving the cores to the producers and the worker.
fn end_to_end(producers: usize) -> Duration {
    let per = RUN / producers as u64;
    let sg = Spyglass::builder()
        .exporter(NullExporter)
        .queue_size(RUN as usize)
        .batch_max(512)
        .build()
        .unwrap();
    let barrier = Barrier::new(producers + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..producers)
            .map(|_| {
                let (sg, barrier) = (&sg, &barrier);
                s.spawn(move || {
                    let em = sg.emitter();
                    barrier.wait();
                    for _ in 0..per {
                        em.emit_fn("f", Duration::from_micros(1), false);
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        assert!(sg.flush(Duration::from_secs(60)));
        let t = start.elapsed();
        let c = sg.collector();
        assert_eq!((c.exported, c.dropped), (per * producers as u64, 0));
        t
    })
}

fn collector(c: &mut Criterion) {
    let mut g = c.benchmark_group("collector");
    // Runs of RUN events: criterion's time per iteration is per run, its throughput per event.
    g.throughput(Throughput::Elements(RUN));
    g.sample_size(10);
    for producers in [1usize, 2] {
        g.bench_function(format!("to null exporter, {producers} producer(s)"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| end_to_end(producers)).sum())
        });
    }
    g.bench_function("worker drain to null exporter", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| spyglass_benches_core::drain(RUN)).sum())
    });
    g.finish();
    // The example's request: a request, a function and a query, counted and assembled into a trace.
    // 10 000 requests at a time: fewer and the flush's hand-off to the worker dominates the time.
    // The 30 000 queued events outgrow the core's L2, so the pops read from L3, where in service
    // the worker drains a quarter of a 2 048-event queue at a time.
    let mut g = c.benchmark_group("collector");
    g.throughput(Throughput::Elements(TRACED_RUN));
    g.bench_function("worker drain of traced requests to null exporter", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| spyglass_benches_core::drain_traced(TRACED_RUN))
                .sum()
        })
    });
    g.finish();
    // What the dashboard pays to list the traces of a recorder full of them.
    let mut g = c.benchmark_group("recorder");
    let sg = Spyglass::builder().build().unwrap();
    spyglass_benches_core::emit_traced(&sg, 5_000);
    assert!(sg.flush(Duration::from_secs(10)));
    g.bench_function("list traces (full recorder)", |b| {
        b.iter(|| sg.recent().traces())
    });
    let held = sg
        .recent()
        .events(Some(spyglass::recent::KindFilter::Req), 1000);
    let id = held.last().expect("requests held").trace_id;
    g.bench_function(
        "one trace by id, past the newest (scans the batches held)",
        |b| b.iter(|| sg.recent().trace(id)),
    );
    g.finish();
    let mut g = c.benchmark_group("collector");
    g.throughput(Throughput::Elements(1));
    let release = Arc::new(AtomicBool::new(false));
    let sg = Spyglass::builder()
        .exporter(Gate(release.clone()))
        .queue_size(1024)
        .build()
        .unwrap();
    let em = sg.emitter();
    for _ in 0..4096 {
        em.emit_fn("f", Duration::from_micros(1), false);
    }
    g.bench_function("emit into a full queue (drop oldest)", |b| {
        b.iter(|| em.emit_fn("f", Duration::from_micros(1), false))
    });
    release.store(true, Ordering::Relaxed);
    g.finish();
}

fn peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(1));

    // tracing: a span entered and closed under a tracing-subscriber registry.
    {
        let subscriber = tracing_subscriber::registry();
        let _d = tracing::subscriber::set_default(subscriber);
        g.bench_function("tracing span (registry)", |b| {
            b.iter(|| tracing::info_span!("load_user").in_scope(|| black_box(1)))
        });
    }

    // OpenTelemetry SDK: a span started and ended, batch processor to a no-op exporter.
    {
        use opentelemetry::trace::{Span, Tracer, TracerProvider};
        #[derive(Debug)]
        struct Noop;
        impl opentelemetry_sdk::trace::SpanExporter for Noop {
            async fn export(
                &self,
                batch: Vec<opentelemetry_sdk::trace::SpanData>,
            ) -> opentelemetry_sdk::error::OTelSdkResult {
                black_box(batch.len());
                Ok(())
            }
        }
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(Noop)
            .build();
        let tracer = provider.tracer("bench");
        g.bench_function("opentelemetry_sdk span", |b| {
            b.iter(|| {
                let mut s = tracer.start("load_user");
                s.end();
            })
        });
        let _ = provider.shutdown();
    }

    // metrics: a labelled histogram recorded through the macro (as users write it), Prometheus
    // recorder.
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            g.bench_function("metrics histogram! record", |b| {
                b.iter(|| {
                    metrics::histogram!("http_server_request_duration_seconds", "route" => "/api/users")
                        .record(black_box(0.015))
                })
            });
        });
    }

    // prometheus: HistogramVec observe, with the per-call label lookup most code does, and cached.
    {
        let h = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("http_server_request_duration_seconds", "help"),
            &[
                "http_request_method",
                "http_route",
                "http_response_status_code",
            ],
        )
        .unwrap();
        g.bench_function("prometheus with_label_values+observe", |b| {
            b.iter(|| {
                h.with_label_values(&["GET", "/api/users", "200"])
                    .observe(black_box(0.015))
            })
        });
        let child = h.with_label_values(&["GET", "/api/users", "200"]);
        g.bench_function("prometheus cached child observe", |b| {
            b.iter(|| child.observe(black_box(0.015)))
        });
    }
    g.finish();
}

fn setup(c: &mut Criterion) {
    // #[instrument] records into the global instance.
    let guard = Spyglass::builder()
        .exporter(NullExporter)
        .queue_size(1 << 16)
        .install()
        .unwrap();
    // Compare medians (criterion's `estimates.json`), not the slope: one stalled sample (a 27 µs
    // iteration among 150 ns ones was seen in the `tracing` bench) moves the slope fourfold.
    peers(c);
    emit(c);
    instrument(c);
    clock(c);
    context(c);
    collector(c);
    drop(guard);
}

criterion_group!(benches, setup);
criterion_main!(benches);

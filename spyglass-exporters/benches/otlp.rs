//! Per-event cost of OTLP export on the collector side.
//!
//! One batch of 128 events (request → function → query, repeated) handed to the exporter's
//! `export`, as Spyglass's collector thread does. Spans go to a real OTLP/gRPC receiver on loopback
//! (counting only); protobuf encoding and network I/O run on the exporter's own `spyglass-otlp`
//! thread. What is measured is the collector thread's share, as that thread's CPU time (so that
//! preemption on a busy machine does not count): building spans with Spyglass's ids and
//! semantic-convention attributes, recording the metrics, queueing. After each timed call the bench
//! waits (untimed) until the batch has been sent, so every call takes the full path, never the
//! cheap drop path of a full queue.
//!
//! The peer is what a user would otherwise write: the OpenTelemetry SDK's tracer (batch span
//! processor) and meter, building the same spans and recording the same histograms and counter per
//! event, timed the same way. Its exporter discards, so it pays no export cost at all, and its spans
//! get SDK-generated ids (it cannot continue Spyglass's trace ids).
//!
//! Run: `cargo bench -p spyglass-exporters --features otlp --bench otlp`
//!
//! Machine: 2 vCPU container, Linux x86_64, shared with other builds while measured (load average
//! 5–6); rustc 1.95.0 (59807616e 2026-04-14). Collector-thread CPU time per event (batch / 128),
//! criterion median:
//!
//! | case | per batch of 128 | per event |
//! | --- | --- | --- |
//! | spyglass OTLP, spans + metrics | 46.4 µs | 0.36 µs |
//! | spyglass OTLP, spans only | 28.9 µs | 0.23 µs |
//! | spyglass OTLP, metrics only | 20.0 µs | 0.16 µs |
//! | opentelemetry_sdk tracer + meter (peer) | 58.0 µs | 0.45 µs |
//!
//! The receiver got every span (`spans_dropped: 0` in the printed stats). When the OTLP collector is
//! slower than the application, batches past the queue bound are dropped and counted without being
//! converted at all.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cpu_time::ThreadTime;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use spyglass_core::event::{Event, EventKind};
use spyglass_core::export::{Batch, Exporter, Resource};
use spyglass_exporters::OtlpExporter;

#[path = "../tests/otlp_receiver/mod.rs"]
mod otlp_receiver;
use otlp_receiver::{Receiver, Transport};

const N: usize = 128;

fn events() -> Vec<Event> {
    let mut out = Vec::with_capacity(N);
    while out.len() < N {
        let req = Event::request("GET", "/users/{id}", 200, 10_000_000);
        let mut f = Event::function("load_user", "shop::users", 5_000_000, false);
        f.trace_id = req.trace_id;
        f.parent_span_id = Some(req.span_id);
        let mut q = Event::query(
            "SELECT * FROM users WHERE id = ?",
            "postgresql",
            Some(1),
            3_000_000,
        );
        q.trace_id = req.trace_id;
        q.parent_span_id = Some(f.span_id);
        out.extend([req, f, q]);
    }
    out.truncate(N);
    out
}

/// Times `export` of one batch. With spans on, each timed call is followed (untimed) by waiting
/// until the batch has been sent, so every call takes the full path (build spans, record metrics,
/// queue) rather than the cheap drop path of a full queue, and the sender thread is idle while the
/// collector's share is timed.
fn spyglass_case(c: &mut Criterion, name: &str, exp: OtlpExporter, resource: &Resource) {
    let mut exp = exp;
    let stats = exp.stats();
    exp.start(resource).unwrap();
    let events = events();
    let batch = Batch {
        events: &events,
        resource,
    };
    let mut g = c.benchmark_group("otlp_export");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let target = stats.spans_exported() + stats.spans_dropped() + N as u64;
                let t = ThreadTime::now();
                let _ = exp.export(black_box(&batch));
                total += t.elapsed();
                if name.contains("spans") {
                    while stats.spans_exported() + stats.spans_dropped() < target {
                        std::thread::yield_now();
                    }
                }
            }
            total
        })
    });
    g.finish();
    let _ = exp.shutdown();
    eprintln!("{name}: {stats:?}");
}

#[derive(Debug)]
struct DiscardSpans;

impl SpanExporter for DiscardSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

#[derive(Debug)]
struct DiscardMetrics;

impl PushMetricExporter for DiscardMetrics {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        black_box(metrics);
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn time(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// The same spans and metrics through the OpenTelemetry SDK's API, per event.
fn otel_sdk_case(c: &mut Criterion) {
    let tracers = SdkTracerProvider::builder()
        .with_batch_exporter(DiscardSpans)
        .build();
    let tracer = tracers.tracer("bench");
    let meters = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(DiscardMetrics)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let meter = meters.meter("bench");
    let http = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .build();
    let calls = meter.u64_counter("function.calls").build();
    let fdur = meter
        .f64_histogram("function.calls.duration")
        .with_unit("s")
        .build();
    let db = meter
        .f64_histogram("db.client.operation.duration")
        .with_unit("s")
        .build();
    let events = events();
    let mut g = c.benchmark_group("otlp_export");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("opentelemetry_sdk tracer + meter (peer)", |b| {
        b.iter_custom(|iters| {
            let t = ThreadTime::now();
            for _ in 0..iters {
                for ev in black_box(&events) {
                    let secs = ev.dur_ns as f64 / 1e9;
                    let (name, kind, attrs): (String, SpanKind, Vec<KeyValue>) = match &ev.kind {
                        EventKind::Req(r) => {
                            let attrs = vec![
                                KeyValue::new("http.request.method", r.method),
                                KeyValue::new("http.route", r.route.to_string()),
                                KeyValue::new("http.response.status_code", i64::from(r.status)),
                            ];
                            http.record(secs, &attrs);
                            (
                                format!("{} {}", r.method, r.route.as_str()),
                                SpanKind::Server,
                                attrs,
                            )
                        }
                        EventKind::Fn(f) => {
                            let attrs = vec![
                                KeyValue::new("function", f.name.to_string()),
                                KeyValue::new("module", f.module.to_string()),
                            ];
                            let mut with_result = attrs.clone();
                            with_result.push(KeyValue::new("result", "ok"));
                            calls.add(1, &with_result);
                            fdur.record(secs, &attrs);
                            let span_attrs = vec![KeyValue::new(
                                "code.function.name",
                                format!("{}::{}", f.module.as_str(), f.name.as_str()),
                            )];
                            (f.name.to_string(), SpanKind::Internal, span_attrs)
                        }
                        EventKind::Db(d) => {
                            let attrs = vec![
                                KeyValue::new("db.system.name", d.system),
                                KeyValue::new("db.query.summary", "SELECT users"),
                            ];
                            db.record(secs, &attrs);
                            let mut span_attrs = attrs.clone();
                            span_attrs
                                .push(KeyValue::new("db.query.text", d.statement.to_string()));
                            ("SELECT users".to_string(), SpanKind::Client, span_attrs)
                        }
                    };
                    let mut span = tracer
                        .span_builder(name)
                        .with_kind(kind)
                        .with_start_time(time(ev.ts_ns))
                        .with_attributes(attrs)
                        .start(&tracer);
                    span.end_with_timestamp(time(ev.ts_ns + ev.dur_ns));
                }
            }
            t.elapsed()
        })
    });
    g.finish();
    let _ = tracers.shutdown();
    let _ = meters.shutdown();
}

fn benches(c: &mut Criterion) {
    let rx = Receiver::start_counting(Transport::Grpc);
    let sg = spyglass_core::Spyglass::builder()
        .service_name("bench")
        .build()
        .unwrap();
    let resource = sg.resource().clone();
    let exp = || OtlpExporter::grpc(rx.endpoint()).metrics_interval(Duration::from_secs(3600));
    spyglass_case(c, "spyglass OTLP spans + metrics", exp(), &resource);
    spyglass_case(
        c,
        "spyglass OTLP spans only",
        exp().metrics(false),
        &resource,
    );
    spyglass_case(
        c,
        "spyglass OTLP metrics only",
        exp().traces(false),
        &resource,
    );
    otel_sdk_case(c);
    eprintln!("receiver got {} spans", rx.store.with(|d| d.span_count));
}

criterion_group! {
    name = otlp;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(otlp);

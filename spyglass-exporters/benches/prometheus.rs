//! Prometheus: collector-side cost per event, and render time of a scrape, next to what a user
//! would otherwise pick (`prometheus` with `with_label_values` per observation, `metrics` with
//! `metrics-exporter-prometheus`).
//!
//! Run: `cargo bench -p spyglass-exporters --features prometheus --bench prometheus`
//!
//! | case | result |
//! | --- | --- |
//! | `per_event/spyglass` (50 routes × 2 statuses, batches of 1024, interned route names) | 35.9 ns / event |
//! | `per_event/spyglass_unshared_names` (every event its own copy of the route name) | 62.0 ns / event |
//! | `per_event/prometheus_with_label_values` | 79.2 ns / event |
//! | `per_event/metrics_exporter_prometheus` | 310 ns / event |
//! | `render_1000_routes/spyglass` | 6.63 ms (≈ 2000 series: 1000 routes × 2 statuses, 14 buckets each) |
//! | `render_1000_routes/metrics_exporter_prometheus` | 37.9 ms |
//!
//! Targets (issue 4): ≤ 50 ns per event on the collector side; a scrape of 1000 routes renders in
//! < 10 ms.
//!
//! Machine: 2 vCPU AMD EPYC (KVM), 23 GB RAM, ext4 on a virtio disk, shared with other builds
//! (load average 5 to 7 while measuring: figures are pessimistic). rustc 1.95.0 (59807616e
//! 2026-04-14). Measured 2026-11-22 with `-- --warm-up-time 1 --measurement-time 3` (4 for JSONL).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use metrics_exporter_prometheus::PrometheusBuilder;
use prometheus::{HistogramOpts, HistogramVec};
use spyglass_core::event::{Event, EventKind};
use spyglass_core::export::{Batch, Exporter};
use spyglass_core::{Name, Spyglass};
use spyglass_exporters::prometheus::BUCKETS;
use spyglass_exporters::PrometheusExporter;

const BATCH: usize = 1024;

/// Requests over `routes` route templates. With `shared`, events of one route share one `Name`
/// allocation, as the middlewares' interned route names do; without, every event has its own copy
/// (the worst case for the exporter's identity cache).
fn requests(routes: usize, n: usize, shared: bool) -> Vec<Event> {
    let names: Vec<Name> = (0..routes)
        .map(|i| Name::from(format!("/api/v1/resource{i}/{{id}}")))
        .collect();
    (0..n)
        .map(|i| {
            let status = if i % 7 == 0 { 500 } else { 200 };
            let route = if shared {
                names[i % routes].clone()
            } else {
                Name::from(names[i % routes].as_str().to_owned())
            };
            Event::request("GET", route, status, (i as u64 % 300) * 1_000_000 + 137_000)
        })
        .collect()
}

fn status_str(s: u16) -> &'static str {
    match s {
        200 => "200",
        500 => "500",
        _ => "other",
    }
}

fn per_event(c: &mut Criterion) {
    let evs = requests(50, BATCH, true);
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let resource = sg.resource().clone();
    let batch = Batch {
        events: &evs,
        resource: &resource,
    };
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut ours = PrometheusExporter::new();
    ours.start(&resource).unwrap();
    g.bench_function(BenchmarkId::new("spyglass", BATCH), |b| {
        b.iter(|| ours.export(&batch).unwrap())
    });

    let mut ours = PrometheusExporter::new();
    ours.start(&resource).unwrap();
    g.bench_function(BenchmarkId::new("spyglass_unshared_names", BATCH), |b| {
        b.iter_batched(
            || requests(50, BATCH, false),
            |evs| {
                ours.export(&Batch {
                    events: &evs,
                    resource: &resource,
                })
                .unwrap();
                evs
            },
            BatchSize::LargeInput,
        )
    });

    let vec = HistogramVec::new(
        HistogramOpts::new("http_server_request_duration_seconds", "help")
            .buckets(BUCKETS.to_vec()),
        &[
            "http_request_method",
            "http_route",
            "http_response_status_code",
        ],
    )
    .unwrap();
    g.bench_function(
        BenchmarkId::new("prometheus_with_label_values", BATCH),
        |b| {
            b.iter(|| {
                for e in &evs {
                    if let EventKind::Req(r) = &e.kind {
                        vec.with_label_values(&[r.method, r.route.as_str(), status_str(r.status)])
                            .observe(e.dur_ns as f64 * 1e-9);
                    }
                }
            })
        },
    );

    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .unwrap()
        .build_recorder();
    metrics::with_local_recorder(&recorder, || {
        g.bench_function(
            BenchmarkId::new("metrics_exporter_prometheus", BATCH),
            |b| {
                b.iter(|| {
                    for e in &evs {
                        if let EventKind::Req(r) = &e.kind {
                            metrics::histogram!(
                                "http_server_request_duration_seconds",
                                "http_request_method" => r.method,
                                "http_route" => r.route.as_str().to_owned(),
                                "http_response_status_code" => status_str(r.status)
                            )
                            .record(e.dur_ns as f64 * 1e-9);
                        }
                    }
                })
            },
        );
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let evs = requests(1000, 4000, true);
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let resource = sg.resource().clone();
    let mut g = c.benchmark_group("render_1000_routes");

    let mut ours = PrometheusExporter::new();
    let handle = ours.handle();
    ours.start(&resource).unwrap();
    ours.export(&Batch {
        events: &evs,
        resource: &resource,
    })
    .unwrap();
    let text = handle.render();
    assert!(text.lines().filter(|l| l.contains("_count{")).count() >= 1000);
    g.bench_function("spyglass", |b| b.iter(|| handle.render()));

    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .unwrap()
        .build_recorder();
    let mhandle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for e in &evs {
            if let EventKind::Req(r) = &e.kind {
                metrics::histogram!(
                    "http_server_request_duration_seconds",
                    "http_request_method" => r.method,
                    "http_route" => r.route.as_str().to_owned(),
                    "http_response_status_code" => status_str(r.status)
                )
                .record(e.dur_ns as f64 * 1e-9);
            }
        }
    });
    g.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| mhandle.render())
    });
    g.finish();
}

criterion_group!(benches, per_event, render);
criterion_main!(benches);

//! JSONL throughput to a local file, next to what a user would otherwise pick.
//!
//! Run: `cargo bench -p spyglass-exporters --features jsonl --bench jsonl`
//!
//! | case | per event | events/s |
//! | --- | --- | --- |
//! | `export_batch/spyglass_jsonl` (exporter alone, batches of 1024) | 464 ns | 2.16 M |
//! | `export_batch/serde_json_bufwriter` (the same lines by hand: serde_json into a `BufWriter<File>`) | 529 ns | 1.89 M |
//! | `export_batch/tracing_subscriber_json` (`tracing` + `fmt().json()` to a file) | 2.75 µs | 0.36 M |
//! | `end_to_end/spyglass_jsonl` (emit → queue → collector → file, 100 k events) | 722 ns | 1.38 M |
//!
//! Target (issue 4): ≥ 1 million events/s sustained to a local file.
//!
//! Machine: 2 vCPU AMD EPYC (KVM), 23 GB RAM, ext4 on a virtio disk, shared with other builds
//! (load average 5 to 7 while measuring: figures are pessimistic). rustc 1.95.0 (59807616e
//! 2026-04-14). Measured 2026-11-22 with `-- --warm-up-time 1 --measurement-time 3` (4 for JSONL).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Mutex;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spyglass_core::event::{Event, EventKind, EventRecord};
use spyglass_core::export::{Batch, Exporter};
use spyglass_core::Spyglass;
use spyglass_exporters::JsonlExporter;

const BATCH: usize = 1024;

fn events() -> Vec<Event> {
    (0..BATCH)
        .map(|i| match i % 3 {
            0 => {
                let mut e = Event::request("GET", "/users/{id}", 200, 15_000_000 + i as u64);
                if let EventKind::Req(r) = &mut e.kind {
                    r.bytes_out = 1200;
                }
                e
            }
            1 => Event::function("load_user", "shop::users", 250_000, false),
            _ => Event::query(
                "SELECT * FROM users WHERE id = ?",
                "postgresql",
                Some(1),
                800_000,
            ),
        })
        .collect()
}

fn export_batch(c: &mut Criterion) {
    let evs = events();
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let resource = sg.resource().clone();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("export_batch");
    g.throughput(Throughput::Elements(BATCH as u64));

    // Rotation every 64 MiB, two files kept: the disk does not fill however long criterion runs.
    let mut jsonl = JsonlExporter::new(dir.path().join("spyglass"))
        .rotate_bytes(64 << 20)
        .max_files(2);
    jsonl.start(&resource).unwrap();
    let batch = Batch {
        events: &evs,
        resource: &resource,
    };
    g.bench_function(BenchmarkId::new("spyglass_jsonl", BATCH), |b| {
        b.iter(|| jsonl.export(&batch).unwrap())
    });
    jsonl.shutdown().unwrap();

    // By hand: the same records through serde_json into a BufWriter, no rotation or accounting.
    let path = dir.path().join("by-hand.jsonl");
    let mut w = BufWriter::with_capacity(64 << 10, File::create(&path).unwrap());
    let mut written = 0u64;
    g.bench_function(BenchmarkId::new("serde_json_bufwriter", BATCH), |b| {
        b.iter(|| {
            for e in &evs {
                serde_json::to_writer(
                    &mut w,
                    &EventRecord {
                        service: "shop",
                        event: e,
                    },
                )
                .unwrap();
                w.write_all(b"\n").unwrap();
            }
            w.flush().unwrap();
            written += BATCH as u64;
            if written > 200_000 {
                // Keep the file small: start over.
                w = BufWriter::with_capacity(64 << 10, File::create(&path).unwrap());
                written = 0;
            }
        })
    });

    // What a user of `tracing` would write: one event per record, JSON formatter, file writer.
    let tpath = dir.path().join("tracing.jsonl");
    let file = Mutex::new(BufWriter::with_capacity(
        64 << 10,
        File::create(&tpath).unwrap(),
    ));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(file)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function(BenchmarkId::new("tracing_subscriber_json", BATCH), |b| {
            b.iter(|| {
                for e in &evs {
                    let trace_id = e.trace_id.to_hex();
                    let span_id = e.span_id.to_hex();
                    match &e.kind {
                        EventKind::Req(r) => tracing::info!(
                            kind = "req",
                            dur_ns = e.dur_ns,
                            trace_id = trace_id.as_str(),
                            span_id = span_id.as_str(),
                            service = "shop",
                            method = r.method,
                            route = r.route.as_str(),
                            status = r.status,
                            bytes_in = r.bytes_in,
                            bytes_out = r.bytes_out
                        ),
                        EventKind::Fn(f) => tracing::info!(
                            kind = "fn",
                            dur_ns = e.dur_ns,
                            trace_id = trace_id.as_str(),
                            span_id = span_id.as_str(),
                            service = "shop",
                            name = f.name.as_str(),
                            module = f.module.as_str(),
                            error = f.error
                        ),
                        EventKind::Db(d) => tracing::info!(
                            kind = "db",
                            dur_ns = e.dur_ns,
                            trace_id = trace_id.as_str(),
                            span_id = span_id.as_str(),
                            service = "shop",
                            statement = d.statement.as_str(),
                            system = d.system,
                            rows = d.rows,
                            error = d.error
                        ),
                    }
                }
            })
        });
    });
    g.finish();
    let _ = std::fs::remove_file(&tpath);
}

fn end_to_end(c: &mut Criterion) {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path())
        .rotate_bytes(64 << 20)
        .max_files(2);
    let stats = jsonl.stats();
    let sg = Spyglass::builder()
        .service_name("shop")
        .queue_size(1 << 18)
        .batch_max(1024)
        .exporter(jsonl)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("end_to_end");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function(BenchmarkId::new("spyglass_jsonl", N), |b| {
        b.iter(|| {
            let em = sg.emitter();
            for i in 0..N {
                em.emit_req(
                    "GET",
                    "/users/{id}",
                    200,
                    Duration::from_nanos(15_000_000 + i),
                );
            }
            assert!(sg.flush(Duration::from_secs(60)));
        })
    });
    g.finish();
    sg.shutdown();
    let c = sg.collector();
    assert_eq!(c.dropped, 0, "the queue held every event");
    assert_eq!(stats.written(), c.emitted, "every event written");
}

criterion_group!(benches, export_batch, end_to_end);
criterion_main!(benches);

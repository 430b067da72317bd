//! Console throughput (formatting and one write per batch), next to `tracing-subscriber`'s fmt
//! layer, the usual way to print events. Output goes to `io::sink()` so the terminal is not what is
//! measured.
//!
//! Run: `cargo bench -p spyglass-exporters --features console --bench console`
//!
//! | case | per event | events/s |
//! | --- | --- | --- |
//! | `console/spyglass_pretty` | 544 ns | 1.84 M |
//! | `console/spyglass_compact` | 387 ns | 2.58 M |
//! | `console/tracing_subscriber_fmt_compact` | 570 ns | 1.75 M |
//!
//! Machine: 2 vCPU AMD EPYC (KVM), 23 GB RAM, ext4 on a virtio disk, shared with other builds
//! (load average 5 to 7 while measuring: figures are pessimistic). rustc 1.95.0 (59807616e
//! 2026-04-14). Measured 2026-11-22 with `-- --warm-up-time 1 --measurement-time 3` (4 for JSONL).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spyglass_core::event::{Event, EventKind};
use spyglass_core::export::{Batch, Exporter};
use spyglass_core::Spyglass;
use spyglass_exporters::ConsoleExporter;

const BATCH: usize = 1024;

fn events() -> Vec<Event> {
    (0..BATCH)
        .map(|i| match i % 3 {
            0 => Event::request("GET", "/users/{id}", 200, 15_000_000 + i as u64),
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

fn console(c: &mut Criterion) {
    let evs = events();
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let resource = sg.resource().clone();
    let batch = Batch {
        events: &evs,
        resource: &resource,
    };
    let mut g = c.benchmark_group("console");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, exporter) in [
        ("spyglass_pretty", ConsoleExporter::pretty()),
        ("spyglass_compact", ConsoleExporter::compact()),
    ] {
        let mut e = exporter.color(true).writer(std::io::sink());
        e.start(&resource).unwrap();
        g.bench_function(BenchmarkId::new(name, BATCH), |b| {
            b.iter(|| e.export(&batch).unwrap())
        });
    }
    let subscriber = tracing_subscriber::fmt()
        .compact()
        .with_ansi(true)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function(
            BenchmarkId::new("tracing_subscriber_fmt_compact", BATCH),
            |b| {
                b.iter(|| {
                    for e in &evs {
                        match &e.kind {
                            EventKind::Req(r) => tracing::info!(
                                method = r.method,
                                route = r.route.as_str(),
                                status = r.status,
                                dur_ns = e.dur_ns,
                                "req"
                            ),
                            EventKind::Fn(f) => tracing::info!(
                                name = f.name.as_str(),
                                module = f.module.as_str(),
                                error = f.error,
                                dur_ns = e.dur_ns,
                                "fn"
                            ),
                            EventKind::Db(d) => tracing::info!(
                                system = d.system,
                                statement = d.statement.as_str(),
                                rows = d.rows,
                                dur_ns = e.dur_ns,
                                "db"
                            ),
                        }
                    }
                })
            },
        );
    });
    g.finish();
}

criterion_group!(benches, console);
criterion_main!(benches);

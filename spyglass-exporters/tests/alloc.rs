//! Steady-state exports allocate nothing (counted by a per-thread counting allocator): the
//! Prometheus exporter's label cache and the JSONL exporter's reused line buffer.

use spyglass_core::event::Event;
use spyglass_core::export::{Batch, Exporter};
use spyglass_core::Spyglass;

fn events() -> Vec<Event> {
    let mut v = Vec::new();
    for i in 0..64u64 {
        v.push(Event::request(
            "GET",
            format!("/r{}", i % 8),
            200 + (i % 2) as u16,
            1_000_000 + i,
        ));
        v.push(Event::function(
            "load_user",
            "shop::users",
            50_000,
            i % 5 == 0,
        ));
        v.push(Event::query(
            "SELECT * FROM t WHERE id = ?",
            "sqlite",
            Some(1),
            200_000,
        ));
    }
    v
}

#[test]
fn counter_counts_on_this_thread() {
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(probe.count_total, 1);
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_export_allocates_nothing_once_keys_are_known() {
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let mut e = spyglass_exporters::PrometheusExporter::new();
    e.start(sg.resource()).unwrap();
    let evs = events();
    let batch = Batch {
        events: &evs,
        resource: sg.resource(),
    };
    e.export(&batch).unwrap(); // first sight of each key resolves its label children
    let info = allocation_counter::measure(|| {
        for _ in 0..10 {
            e.export(&batch).unwrap();
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[cfg(feature = "jsonl")]
#[test]
fn jsonl_export_allocates_nothing_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let mut e = spyglass_exporters::JsonlExporter::new(dir.path()).rotate_bytes(0);
    e.start(sg.resource()).unwrap();
    let evs = events();
    let batch = Batch {
        events: &evs,
        resource: sg.resource(),
    };
    e.export(&batch).unwrap(); // opens the file, sizes the buffer
    let info = allocation_counter::measure(|| {
        for _ in 0..10 {
            e.export(&batch).unwrap();
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    e.shutdown().unwrap();
}

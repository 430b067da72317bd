//! Runs one emit kind N times, for instruction counting under `valgrind --tool=callgrind`
//! (repeatable whatever the machine's load): `emit-loop <fn|req|db|off|instrument> <N>`.

use std::hint::black_box;
use std::time::Duration;

#[spyglass::instrument]
fn instrumented_empty(x: u64) -> u64 {
    black_box(x)
}

/// Blocks in its first export until released.
#[derive(Debug)]
struct Gate(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl spyglass::Exporter for Gate {
    fn export(&mut self, _: &spyglass::export::Batch<'_>) -> Result<(), spyglass::ExportError> {
        while !self.0.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::yield_now();
        }
        Ok(())
    }
}

/// The collector worker alone: fills the queue while the worker is held, then times the drain.
fn drain(n: u64) {
    let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
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
    let start = std::time::Instant::now();
    release.store(true, std::sync::atomic::Ordering::Release);
    // Wait on the flush's condition variable: polling the counters would read the queue's head and
    // tail, the very cache lines the worker writes at every pop.
    assert!(sg.flush(Duration::from_secs(60)));
    let t = start.elapsed();
    assert_eq!(sg.collector().exported, n + 1);
    println!(
        "drained {n} events in {t:?}: {:.1} M events/s ({:.1} ns/event)",
        n as f64 / t.as_secs_f64() / 1e6,
        t.as_nanos() as f64 / n as f64
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "fn".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    if kind == "drain" {
        return drain(n);
    }
    let _guard = spyglass::Spyglass::builder()
        .queue_size(1 << 20)
        .enabled(kind != "off")
        .install()
        .expect("install");
    let em = spyglass::emitter();
    let start = std::time::Instant::now();
    for _ in 0..n {
        match kind.as_str() {
            "fn" | "off" => em.emit_fn(
                black_box("expensive_calculation"),
                Duration::from_micros(5),
                false,
            ),
            "req" => em.emit_req(
                "GET",
                black_box("/api/users"),
                200,
                Duration::from_millis(15),
            ),
            "db" => em.emit_db(
                black_box("SELECT * FROM users WHERE id = 42"),
                Duration::from_millis(8),
                Some(100),
            ),
            "instrument" => {
                instrumented_empty(black_box(1));
            }
            other => panic!("unknown kind {other}"),
        }
    }
    let t = start.elapsed();
    let c = spyglass::global().collector();
    eprintln!(
        "{kind}: {n} emits in {t:?} ({:.1} ns each); dropped {} of {}",
        t.as_nanos() as f64 / n as f64,
        c.dropped,
        c.emitted
    );
}

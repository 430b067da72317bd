//! Runs one emit kind N times, for instruction counting under `valgrind --tool=callgrind`
//! (repeatable whatever the machine's load): `emit-loop <fn|req|db|off|instrument> <N>`.

use std::hint::black_box;
use std::time::Duration;

#[spyglass::instrument]
fn instrumented_empty(x: u64) -> u64 {
    black_box(x)
}

/// The collector worker alone: fills the queue while the worker is held, then times the drain.
fn drain(n: u64) {
    let t = spyglass_benches_core::drain(n);
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

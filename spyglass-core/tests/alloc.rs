//! The emit path allocates nothing in steady state (counted by a per-thread counting allocator).

use std::time::Duration;

use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::{Name, Spyglass};

#[test]
fn emits_allocate_nothing_in_steady_state() {
    let sg = Spyglass::builder()
        .queue_size(1 << 16)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let em = sg.emitter();
    let route: Name = std::sync::Arc::<str>::from("/users/{id}").into();
    let run = || {
        for _ in 0..100 {
            em.emit_req("GET", "/api/users", 200, Duration::from_millis(15));
            em.emit_fn("expensive_calculation", Duration::from_millis(5), false);
            em.emit_db(
                "SELECT * FROM users WHERE id = 42",
                Duration::from_millis(8),
                Some(100),
            );
            let span = em.new_span();
            em.emit_span(
                span,
                1000,
                EventKind::Req(ReqEvent {
                    method: "GET",
                    route: route.clone(),
                    status: 200,
                    bytes_in: 10,
                    bytes_out: 20,
                    error: None,
                }),
            );
        }
    };
    // The counter really counts on this thread (so a zero below is not vacuous).
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(probe.count_total, 1);
    // Warm up: first sight of each key creates its series, the statement its fingerprint.
    run();
    let info = allocation_counter::measure(run);
    assert_eq!(info.count_total, 0, "{info:?}");
}

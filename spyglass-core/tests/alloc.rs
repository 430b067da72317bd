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
                    labels: Default::default(),
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

#[test]
fn traceparent_values_reuse_their_buffer_once_dropped() {
    use spyglass_core::context::{traceparent_bytes, TraceContext};
    let ctx = TraceContext::new_root(true);
    // Warm up: the first value allocates the per-thread buffer.
    drop(traceparent_bytes(&ctx));
    // 10 000 values (135 buffers' worth), each dropped before the next is made, as a response's
    // headers are: the buffer is taken back every time it runs out, never replaced.
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            let v = traceparent_bytes(&ctx);
            assert_eq!(&v[..], ctx.to_traceparent().as_bytes());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    // A value still held when the buffer runs out forces a fresh buffer; the held value stays intact.
    let held = traceparent_bytes(&ctx);
    let more: Vec<_> = (0..200).map(|_| traceparent_bytes(&ctx)).collect();
    assert_eq!(&held[..], ctx.to_traceparent().as_bytes());
    assert!(more
        .iter()
        .all(|v| &v[..] == ctx.to_traceparent().as_bytes()));
}

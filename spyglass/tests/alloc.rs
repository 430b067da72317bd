//! `#[instrument]`ed calls allocate nothing in steady state (per-thread counting allocator).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[spyglass::instrument]
fn sync_work(x: u64) -> u64 {
    std::hint::black_box(x + 1)
}

#[spyglass::instrument]
fn fallible(x: u64) -> Result<u64, std::fmt::Error> {
    Ok(x)
}

#[spyglass::instrument]
async fn async_work(x: u64) -> u64 {
    std::hint::black_box(x * 2)
}

#[test]
fn instrumented_calls_allocate_nothing_in_steady_state() {
    let _guard = spyglass::Spyglass::builder()
        .queue_size(1 << 16)
        .flush_interval(Duration::from_secs(3600))
        .install()
        .unwrap();
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(probe.count_total, 1, "the counter counts on this thread");

    let mut cx = Context::from_waker(Waker::noop());
    let run = |cx: &mut Context<'_>| {
        for i in 0..100 {
            sync_work(i);
            let _ = fallible(i);
            // The future lives on the stack: no allocation beyond it.
            let fut = pin!(async_work(i));
            assert_eq!(fut.poll(cx), Poll::Ready(i * 2));
        }
    };
    run(&mut cx);
    let info = allocation_counter::measure(|| run(&mut cx));
    assert_eq!(info.count_total, 0, "{info:?}");
    let snap = spyglass::stats().snapshot(Duration::from_secs(60));
    let sync_row = snap
        .functions
        .iter()
        .find(|f| f.name == "sync_work")
        .unwrap();
    assert_eq!(sync_row.count, 200);
}

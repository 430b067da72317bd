//! Trace context propagation across `.await`, spawned tasks and threads.

use spyglass_core::context::{self, FutureExt, TraceContext};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_survives_await_points_on_a_multi_thread_runtime() {
    let root = TraceContext::new_root(true);
    let seen = root
        .scope(async {
            let mut seen = Vec::new();
            for _ in 0..50 {
                tokio::task::yield_now().await;
                seen.push(context::current());
            }
            seen
        })
        .await;
    assert!(seen.iter().all(|c| *c == Some(root)));
    assert_eq!(context::current(), None, "scope ends with the future");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_carry_context_only_when_asked() {
    let root = TraceContext::new_root(true);
    let (carried, bare) = root
        .scope(async {
            let carried = tokio::spawn(
                async {
                    tokio::task::yield_now().await;
                    context::current()
                }
                .in_current_context(),
            );
            let bare = tokio::spawn(async { context::current() });
            (carried.await.unwrap(), bare.await.unwrap())
        })
        .await;
    assert_eq!(carried, Some(root));
    assert_eq!(bare, None);
}

#[tokio::test(flavor = "current_thread")]
async fn interleaved_tasks_on_one_thread_keep_their_own_context() {
    let a = TraceContext::new_root(true);
    let b = TraceContext::new_root(true);
    let task = |ctx: TraceContext| {
        ctx.scope(async move {
            for _ in 0..20 {
                tokio::task::yield_now().await;
                assert_eq!(context::current(), Some(ctx));
            }
        })
    };
    let (ra, rb) = tokio::join!(tokio::spawn(task(a)), tokio::spawn(task(b)));
    ra.unwrap();
    rb.unwrap();
    assert_eq!(context::current(), None);
}

#[test]
fn threads_receive_context_explicitly() {
    let root = TraceContext::new_root(false);
    root.in_scope(|| {
        let ctx = context::current().unwrap();
        let child =
            std::thread::spawn(move || ctx.in_scope(|| context::current().unwrap().child()))
                .join()
                .unwrap();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_eq!(child.parent_span_id(), Some(root.span_id()));
        assert!(
            !child.is_sampled(),
            "children inherit the sampling decision"
        );
        let other_thread_sees = std::thread::spawn(context::current).join().unwrap();
        assert_eq!(other_thread_sees, None, "threads do not inherit implicitly");
    });
}

#[test]
fn ids_are_distinct_and_nonzero() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        let c = TraceContext::new_root(true);
        assert_ne!(c.trace_id().to_u128(), 0);
        assert_ne!(c.span_id().to_u64(), 0);
        assert!(seen.insert(c.trace_id()));
    }
}

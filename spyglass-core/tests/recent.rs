//! The flight recorder's trace list: failed, slowest and newest requests, with their spans.

use std::time::Duration;

use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::{Spyglass, TraceContext};

fn request(
    sg: &Spyglass,
    route: &'static str,
    status: u16,
    dur_ns: u64,
    body: &dyn Fn(),
) -> TraceContext {
    let ctx = sg.new_request_context(None, None);
    ctx.in_scope(body);
    sg.emitter().emit_span(
        ctx,
        dur_ns,
        EventKind::Req(ReqEvent {
            method: "GET",
            route: route.into(),
            status,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
        }),
    );
    ctx
}

#[test]
fn newest_requests_are_listed_with_or_without_spans_and_keep_their_spans() {
    let sg = Spyglass::builder().batch_max(16).build().unwrap();
    // Old, slow and failed traces that must stay listed however many requests follow.
    let slow = request(&sg, "/slow", 200, 900_000_000, &|| {});
    let failed = request(&sg, "/fail", 500, 1_000, &|| {});
    // Many span-less requests, then one with a query under it, then a few more span-less ones.
    for _ in 0..200 {
        request(&sg, "/plain", 200, 1_000, &|| {});
    }
    let with_span = request(&sg, "/orders", 200, 2_000, &|| {
        sg.emitter()
            .emit_db("SELECT * FROM orders", Duration::from_micros(1), Some(3));
    });
    let newest: Vec<TraceContext> = (0..3)
        .map(|_| request(&sg, "/plain", 200, 1_000, &|| {}))
        .collect();
    assert!(sg.flush(Duration::from_secs(10)));

    let traces = sg.recent().traces();
    let find = |ctx: &TraceContext| traces.iter().find(|t| t.trace_id == ctx.trace_id());
    // The newest span-less requests are listed, as traces of their root alone.
    for ctx in &newest {
        let t = find(ctx).expect("a newest request is listed");
        assert!(t.spans.is_empty());
        assert_eq!(t.root.span_id, ctx.span_id());
    }
    // The request with a query keeps it.
    let t = find(&with_span).expect("the request with a span is listed");
    assert_eq!(t.spans.len(), 1);
    assert!(matches!(t.spans[0].kind, EventKind::Db(_)));
    // Slow and failed ones outlive 200 newer requests.
    assert!(find(&slow).is_some());
    assert!(find(&failed).is_some());
    // Bounded: at most the failed, slowest and newest sets.
    assert!(traces.len() <= 32 + 32 + 64, "{}", traces.len());
    // No trace is listed twice.
    let mut ids: Vec<_> = traces
        .iter()
        .map(|t| (t.trace_id, t.root.span_id))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), traces.len());
    // One trace by id: the same record.
    let one = sg.recent().trace(with_span.trace_id()).unwrap();
    assert_eq!(one.spans.len(), 1);
}

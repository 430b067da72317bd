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
            labels: Default::default(),
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

/// The durations (the sequence numbers given below) of a listing.
fn seq(events: &[spyglass_core::Event]) -> Vec<u64> {
    events.iter().map(|e| e.dur_ns).collect()
}

#[test]
fn recent_events_are_the_newest_of_each_kind_however_the_kinds_are_mixed() {
    use spyglass_core::recent::KindFilter;
    // Small batches, so the recorder lets many of them go while the kinds interleave unevenly.
    for batch_max in [1, 7, 128, 5000] {
        let sg = Spyglass::builder()
            .batch_max(batch_max)
            .queue_size(1 << 14)
            .build()
            .unwrap();
        let em = sg.emitter();
        // Three queries, then 3000 function calls with a query after every 1000th, then requests.
        // Each event's duration is its sequence number.
        let mut n = 0u64;
        let mut next = || {
            n += 1;
            Duration::from_nanos(n)
        };
        for _ in 0..3 {
            em.emit_db("SELECT 1", next(), None);
        }
        for i in 0..3000 {
            em.emit_fn("f", next(), false);
            if i % 1000 == 999 {
                em.emit_db("SELECT 1", next(), None);
            }
        }
        for _ in 0..100 {
            em.emit_req("GET", "/", 200, next());
        }
        assert!(sg.flush(Duration::from_secs(10)));
        assert_eq!(sg.collector().dropped, 0);
        let rec = sg.recent();

        // Queries are 1-3, 1004, 2005 and 3006; function calls 4-3005 between them; requests
        // 3007-3106.
        // All six queries, newest first, past thousands of newer events of other kinds.
        let db = seq(&rec.events(Some(KindFilter::Db), 100));
        assert_eq!(db, [3006, 2005, 1004, 3, 2, 1], "batch_max {batch_max}");
        // Exactly the newest 512 function calls.
        let f = seq(&rec.events(Some(KindFilter::Fn), 10_000));
        assert_eq!(
            f,
            (2494..=3005).rev().collect::<Vec<_>>(),
            "batch_max {batch_max}"
        );
        // A limit below what is kept.
        assert_eq!(
            seq(&rec.events(Some(KindFilter::Req), 3)),
            [3106, 3105, 3104]
        );
        // All kinds together, newest first.
        assert_eq!(
            seq(&rec.events(None, 102)),
            (3005..=3106).rev().collect::<Vec<_>>(),
            "batch_max {batch_max}"
        );
    }
}

//! The JSON API: stats, timeseries, events, errors and traces.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use spyglass_core::context::SpanId;
use spyglass_core::event::{Event, EventKind, EventRecord};
use spyglass_core::recent::{KindFilter, TraceRecord};
use spyglass_core::{Spyglass, TraceId};

use crate::query::Query;
use crate::DashboardResponse;

type Answer = Result<DashboardResponse, String>;

/// How long a JSON answer waits for the collector's worker to count the events still queued.
///
/// The answer is made on the server's async executor thread, which should not wait long (the
/// store's own `snapshot` waits up to 250 ms). A worker that is not exporting catches up in well
/// under a millisecond, and one inside an exporter call for over 10 ms is not waited for at all
/// (see `CollectorStats::sync_within`), so this bound is reached only by a worker that is slow to
/// be scheduled on a loaded machine: long enough that a request answered just before is counted
/// (what a client reading the stats right after its request expects), short enough not to stall
/// the thread for long. Past it, the answer shows what the store holds.
pub(crate) const SYNC_WAIT: Duration = Duration::from_millis(100);

pub(crate) fn stats(sg: &Spyglass, q: &Query) -> Answer {
    let window = q.window(sg.stats().max_window())?;
    sg.stats().sync_within(SYNC_WAIT);
    Ok(DashboardResponse::json(
        &sg.stats().snapshot_unsynced(window),
    ))
}

pub(crate) fn timeseries(sg: &Spyglass, q: &Query) -> Answer {
    let window = q.window(sg.stats().max_window())?;
    let top = q.uint("top", 5, 0, 100)? as usize;
    sg.stats().sync_within(SYNC_WAIT);
    Ok(DashboardResponse::json(
        &sg.stats().timeseries_unsynced(window, top),
    ))
}

pub(crate) fn events(sg: &Spyglass, q: &Query) -> Answer {
    let kind = match q.get("kind") {
        None | Some("") | Some("all") => None,
        Some(k) => Some(
            KindFilter::parse(k)
                .ok_or_else(|| format!("kind must be 'req', 'fn' or 'db', got '{k}'"))?,
        ),
    };
    let limit = q.limit()?;
    let list: Vec<Value> = sg
        .recent()
        .events(kind, limit)
        .iter()
        .map(|e| event_json(sg, e))
        .collect();
    Ok(DashboardResponse::json(&list))
}

pub(crate) fn errors(sg: &Spyglass, q: &Query) -> Answer {
    let limit = q.limit()?;
    let list: Vec<Value> = sg
        .recent()
        .errors(limit)
        .iter()
        .map(|e| event_json(sg, e))
        .collect();
    Ok(DashboardResponse::json(&list))
}

pub(crate) fn traces(sg: &Spyglass, q: &Query) -> Answer {
    let limit = q.uint("limit", 100, 1, 1000)? as usize;
    let list: Vec<TraceSummary> = sg
        .recent()
        .traces()
        .iter()
        .take(limit)
        .map(TraceSummary::of)
        .collect();
    Ok(DashboardResponse::json(&list))
}

/// `/api/traces/{trace_id}?span={span_id}`: the kept trace of that id whose root span is
/// `span_id` (or, failing that, which holds that span: an error's `span_id` finds its request).
/// Several requests of this service can share a trace id; without `span`, the first listed.
pub(crate) fn trace(sg: &Spyglass, id: &str, q: &Query) -> Answer {
    let parsed = hex_digits(id, 32)
        .and_then(|_| u128::from_str_radix(id, 16).ok())
        .and_then(TraceId::from_u128)
        .ok_or_else(|| {
            format!("trace id must be 32 lower-case hex digits, not all zero, got '{id}'")
        })?;
    let span = match q.get("span") {
        None => None,
        Some(s) => Some(
            hex_digits(s, 16)
                .and_then(|_| u64::from_str_radix(s, 16).ok())
                .and_then(SpanId::from_u64)
                .ok_or_else(|| {
                    format!("span must be 16 lower-case hex digits, not all zero, got '{s}'")
                })?,
        ),
    };
    let found = match span {
        Some(span) => sg.recent().trace_with_span(parsed, span),
        None => sg.recent().trace(parsed),
    };
    match (found, span) {
        (Some(t), _) => Ok(DashboardResponse::json(&trace_json(sg, &t))),
        (None, None) => Ok(DashboardResponse::text(
            http::StatusCode::NOT_FOUND,
            format!("trace {id} is not among the kept traces (the failed, slowest and most recent ones)"),
        )),
        (None, Some(span)) => Ok(DashboardResponse::text(
            http::StatusCode::NOT_FOUND,
            format!(
                "no request of trace {id} with span {span} is among the kept traces (the failed, \
                 slowest and most recent ones)"
            ),
        )),
    }
}

/// `Some(())` when `s` is `len` lower-case hex digits.
fn hex_digits(s: &str, len: usize) -> Option<()> {
    (s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(())
}

/// An event in the JSONL schema of SPEC §7, plus `message` (the error text, if any) and `label`
/// (route, function or statement) for display.
pub(crate) fn event_json(sg: &Spyglass, e: &Event) -> Value {
    let mut v = serde_json::to_value(EventRecord {
        service: sg.service_name(),
        event: e,
    })
    .unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("dur_ms".into(), json!(e.dur_ns as f64 / 1e6));
        m.insert("label".into(), json!(label(e)));
        m.insert("is_error".into(), json!(e.is_error()));
        m.insert(
            "message".into(),
            match (e.error_text(), &e.kind) {
                (Some(t), _) => json!(t),
                (None, EventKind::Req(r)) if r.status >= 500 => json!(format!("HTTP {}", r.status)),
                (None, _) if e.is_error() => json!("failed"),
                _ => Value::Null,
            },
        );
    }
    v
}

fn label(e: &Event) -> String {
    match &e.kind {
        EventKind::Req(r) => format!("{} {}", r.method, r.route),
        EventKind::Fn(f) if f.module.is_empty() => f.name.to_string(),
        EventKind::Fn(f) => format!("{}::{}", f.module, f.name),
        EventKind::Db(d) => d.statement.to_string(),
    }
}

/// One kept trace in the list of the request detail view. `span_id` is the root's (the request's):
/// with `trace_id` it names the request, which the trace id alone does not when several requests
/// share it (`/api/traces/{trace_id}?span={span_id}`).
#[derive(Debug, Serialize)]
pub(crate) struct TraceSummary {
    trace_id: String,
    span_id: String,
    label: String,
    kind: &'static str,
    status: Option<u16>,
    pub(crate) ts_ms: f64,
    pub(crate) dur_ms: f64,
    spans: usize,
    pub(crate) error: bool,
}

impl TraceSummary {
    /// A summary with only the fields the stream's selection reads.
    #[cfg(test)]
    pub(crate) fn at(ts_ms: f64, dur_ms: f64, error: bool) -> Self {
        TraceSummary {
            trace_id: String::new(),
            span_id: String::new(),
            label: String::new(),
            kind: "req",
            status: None,
            ts_ms,
            dur_ms,
            spans: 0,
            error,
        }
    }

    pub(crate) fn of(t: &TraceRecord) -> Self {
        TraceSummary {
            trace_id: t.trace_id.to_hex().to_string(),
            span_id: t.root.span_id.to_hex().to_string(),
            label: label(&t.root),
            kind: t.root.kind_str(),
            status: match &t.root.kind {
                EventKind::Req(r) => Some(r.status),
                _ => None,
            },
            ts_ms: t.root.ts_ns as f64 / 1e6,
            dur_ms: t.root.dur_ns as f64 / 1e6,
            spans: t.spans.len(),
            error: t.root.is_error() || t.spans.iter().any(Event::is_error),
        }
    }
}

fn trace_json(sg: &Spyglass, t: &TraceRecord) -> Value {
    let start = t
        .spans
        .iter()
        .map(|e| e.ts_ns)
        .chain(std::iter::once(t.root.ts_ns))
        .min()
        .unwrap_or(t.root.ts_ns);
    let mut spans: Vec<&Event> = t.spans.iter().collect();
    spans.sort_by_key(|e| e.ts_ns);
    let item = |e: &Event| {
        let mut v = event_json(sg, e);
        if let Value::Object(m) = &mut v {
            m.insert(
                "offset_ms".into(),
                json!(e.ts_ns.saturating_sub(start) as f64 / 1e6),
            );
        }
        v
    };
    json!({
        "trace_id": t.trace_id.to_hex().to_string(),
        "summary": TraceSummary::of(t),
        "root": item(&t.root),
        "spans": spans.into_iter().map(item).collect::<Vec<_>>(),
    })
}

//! The flight recorder: recent events, recent errors and recent whole traces, for the dashboard.
//!
//! Fed by the collector thread one batch at a time (one lock per batch, never per event on the
//! application's threads). Everything is bounded: fixed-size rings, a capped set of traces being
//! assembled, and a small set of finished traces where the slowest and the failed ones are kept in
//! preference to the merely recent.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use spyglass_core::Spyglass;
//!
//! let sg = Spyglass::builder().build().unwrap();
//! sg.emitter().emit_req("GET", "/", 500, Duration::from_millis(3));
//! sg.flush(Duration::from_secs(5));
//! assert_eq!(sg.recent().errors(10).len(), 1);
//! ```

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::context::TraceId;
use crate::event::{Event, EventKind};

const EVENTS_PER_KIND: usize = 512;
const ERRORS: usize = 256;
const PENDING_TRACES: usize = 1024;
const SPANS_PER_TRACE: usize = 512;
const RECENT_TRACES: usize = 64;
const SLOW_TRACES: usize = 32;
const ERROR_TRACES: usize = 32;

/// Which kind of events to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFilter {
    /// Requests.
    Req,
    /// Function calls.
    Fn,
    /// Queries.
    Db,
}

impl KindFilter {
    /// Parses `req`, `fn` or `db`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "req" => Some(KindFilter::Req),
            "fn" => Some(KindFilter::Fn),
            "db" => Some(KindFilter::Db),
            _ => None,
        }
    }
}

/// One finished trace (the local part of it): its root event and every span under it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TraceRecord {
    /// The trace id.
    pub trace_id: TraceId,
    /// The root event of this service's part of the trace (the request, or a root function).
    pub root: Event,
    /// The other events of the trace, in the order they finished.
    pub spans: Vec<Event>,
}

#[derive(Debug, Default)]
struct State {
    req: VecDeque<Event>,
    func: VecDeque<Event>,
    db: VecDeque<Event>,
    errors: VecDeque<Event>,
    pending: HashMap<TraceId, Vec<Event>>,
    pending_order: VecDeque<TraceId>,
    recent_traces: VecDeque<TraceRecord>,
    slow_traces: Vec<TraceRecord>,
    error_traces: VecDeque<TraceRecord>,
}

/// The flight recorder (see the module docs).
#[derive(Debug, Default)]
pub struct Recent {
    state: Mutex<State>,
}

fn push_ring<T>(ring: &mut VecDeque<T>, v: T, cap: usize) {
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(v);
}

impl Recent {
    /// Records a batch of events (called by the collector thread).
    pub(crate) fn ingest(&self, batch: &[Event]) {
        let mut st = self.state.lock();
        let st = &mut *st;
        for ev in batch {
            let ring = match ev.kind {
                EventKind::Req(_) => &mut st.req,
                EventKind::Fn(_) => &mut st.func,
                EventKind::Db(_) => &mut st.db,
            };
            push_ring(ring, ev.clone(), EVENTS_PER_KIND);
            if ev.is_error() {
                push_ring(&mut st.errors, ev.clone(), ERRORS);
            }
            let is_root = matches!(ev.kind, EventKind::Req(_)) || ev.parent_span_id.is_none();
            if is_root {
                let spans = st.pending.remove(&ev.trace_id).unwrap_or_default();
                let rec = TraceRecord {
                    trace_id: ev.trace_id,
                    root: ev.clone(),
                    spans,
                };
                st.finish(rec);
            } else {
                if !st.pending.contains_key(&ev.trace_id) {
                    if st.pending.len() >= PENDING_TRACES {
                        // Evict the oldest trace still being assembled.
                        while let Some(old) = st.pending_order.pop_front() {
                            if st.pending.remove(&old).is_some() {
                                break;
                            }
                        }
                    }
                    st.pending_order.push_back(ev.trace_id);
                    if st.pending_order.len() > 4 * PENDING_TRACES {
                        let pending = &st.pending;
                        st.pending_order.retain(|id| pending.contains_key(id));
                    }
                }
                let spans = st.pending.entry(ev.trace_id).or_default();
                if spans.len() < SPANS_PER_TRACE {
                    spans.push(ev.clone());
                }
            }
        }
    }

    /// The newest `limit` events, newest first, optionally of one kind.
    pub fn events(&self, kind: Option<KindFilter>, limit: usize) -> Vec<Event> {
        let st = self.state.lock();
        match kind {
            Some(KindFilter::Req) => st.req.iter().rev().take(limit).cloned().collect(),
            Some(KindFilter::Fn) => st.func.iter().rev().take(limit).cloned().collect(),
            Some(KindFilter::Db) => st.db.iter().rev().take(limit).cloned().collect(),
            None => {
                let mut all: Vec<Event> = st
                    .req
                    .iter()
                    .chain(st.func.iter())
                    .chain(st.db.iter())
                    .cloned()
                    .collect();
                all.sort_by(|a, b| (b.ts_ns + b.dur_ns).cmp(&(a.ts_ns + a.dur_ns)));
                all.truncate(limit);
                all
            }
        }
    }

    /// The newest `limit` errors, newest first.
    pub fn errors(&self, limit: usize) -> Vec<Event> {
        self.state
            .lock()
            .errors
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Finished traces kept for the request detail view: failed, slowest and most recent, without
    /// duplicates, newest first within each group.
    pub fn traces(&self) -> Vec<TraceRecord> {
        let st = self.state.lock();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for t in st
            .error_traces
            .iter()
            .rev()
            .chain(st.slow_traces.iter())
            .chain(st.recent_traces.iter().rev())
        {
            if seen.insert((t.trace_id, t.root.span_id)) {
                out.push(t.clone());
            }
        }
        out
    }

    /// One kept trace by id.
    pub fn trace(&self, id: TraceId) -> Option<TraceRecord> {
        self.traces().into_iter().find(|t| t.trace_id == id)
    }
}

impl State {
    fn finish(&mut self, rec: TraceRecord) {
        let failed = rec.root.is_error() || rec.spans.iter().any(Event::is_error);
        if failed {
            push_ring(&mut self.error_traces, rec.clone(), ERROR_TRACES);
        }
        // The slowest traces: a small set sorted by duration, slowest first.
        let dur = rec.root.dur_ns;
        if self.slow_traces.len() < SLOW_TRACES
            || self.slow_traces.last().is_some_and(|t| t.root.dur_ns < dur)
        {
            let pos = self.slow_traces.partition_point(|t| t.root.dur_ns >= dur);
            self.slow_traces.insert(pos, rec.clone());
            self.slow_traces.truncate(SLOW_TRACES);
        }
        push_ring(&mut self.recent_traces, rec, RECENT_TRACES);
    }
}

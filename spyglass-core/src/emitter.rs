//! The emitter: how events enter Spyglass.
//!
//! Each emit stamps the current [trace context](crate::context) and offers the event to the
//! [collector](crate::collector)'s queue; the collector's worker counts it in the
//! [stats store](mod@crate::stats) and hands it to the exporters. An emit never blocks, never returns an
//! error and, in steady state, never allocates.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let em = spyglass_core::emitter();
//! em.emit_req("GET", "/api/users", 200, Duration::from_millis(15));
//! em.emit_fn("expensive_calculation", Duration::from_millis(5), false);
//! em.emit_db("SELECT * FROM users WHERE id = 42", Duration::from_millis(8), Some(100));
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::context::{self, SpanId, TraceContext};
use crate::event::{DbEvent, Event, EventKind, FnEvent, ReqEvent};
use crate::name::{method_name, Name};
use crate::Inner;

/// Emits events into one Spyglass instance. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Emitter<'a> {
    pub(crate) inner: &'a Inner,
}

impl std::fmt::Debug for Emitter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("service", &self.inner.resource.service_name)
            .finish()
    }
}

/// The event of `span`, which started at `ts_ns` (Unix ns) and lasted `dur_ns`.
#[inline(always)]
fn stamped(span: TraceContext, ts_ns: u64, dur_ns: u64, kind: EventKind) -> Event {
    Event {
        ts_ns,
        dur_ns,
        trace_id: span.trace_id(),
        span_id: span.span_id(),
        parent_span_id: span.parent_span_id(),
        sampled: span.is_sampled(),
        kind,
    }
}

/// An error's text, out of line: queries rarely fail.
#[cold]
#[inline(never)]
fn error_text(e: &str) -> Arc<str> {
    Arc::from(e)
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl<'a> Emitter<'a> {
    /// Whether events are recorded at all. When not, every emit returns at once.
    ///
    /// Building with `RUSTFLAGS="--cfg spyglass_off"` turns recording off at compile time: every
    /// emit and `#[instrument]`ed call then compiles to nothing (as `tracing`'s `max_level_off`). It
    /// is a cfg rather than a feature so that `--all-features` builds keep recording.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        !cfg!(spyglass_off) && self.inner.enabled
    }

    /// A new span for work starting now: a child of the current context, or a new root trace
    /// (with the instance's sampling decision) when there is none.
    #[inline]
    pub fn new_span(&self) -> TraceContext {
        match context::current() {
            Some(c) => c.child(),
            None => self.inner.new_root(),
        }
    }

    /// Records a served request under the current context.
    #[inline]
    pub fn emit_req(&self, method: &str, route: impl Into<Name>, status: u16, dur: Duration) {
        // Only the check is inlined into the caller: when recording is off, an emit is a load and
        // a branch.
        if self.is_enabled() {
            self.record_req(method_name(method), route.into(), status, dur);
        }
    }

    #[inline(never)]
    fn record_req(&self, method: &'static str, route: Name, status: u16, dur: Duration) {
        let span = self.new_span();
        let kind = EventKind::Req(ReqEvent {
            method,
            route,
            status,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            labels: Default::default(),
        });
        self.emit_span(span, nanos(dur), kind);
    }

    /// Records a function call under the current context.
    #[inline]
    pub fn emit_fn(&self, name: impl Into<Name>, dur: Duration, error: bool) {
        if self.is_enabled() {
            self.record_fn(name.into(), dur, error);
        }
    }

    #[inline(never)]
    fn record_fn(&self, name: Name, dur: Duration, error: bool) {
        let span = self.new_span();
        let kind = EventKind::Fn(FnEvent {
            name,
            module: Name::from_static(""),
            error,
            error_text: None,
        });
        self.emit_span(span, nanos(dur), kind);
    }

    /// Records a query under the current context. The statement is redacted to its fingerprint
    /// before it leaves the emitter (`… WHERE id = ?`); the system is recorded as `other_sql`.
    #[inline]
    pub fn emit_db(&self, statement: &str, dur: Duration, rows: Option<u64>) {
        if self.is_enabled() {
            self.emit_db_with("other_sql", statement, dur, rows, None);
        }
    }

    /// Records a query of database `system` (`postgresql`, `sqlite`, …), with its error text if it
    /// failed. The statement is redacted; the error text must not carry bind values.
    pub fn emit_db_with(
        &self,
        system: &'static str,
        statement: &str,
        dur: Duration,
        rows: Option<u64>,
        error: Option<&str>,
    ) {
        if !self.is_enabled() {
            return;
        }
        let span = self.new_span();
        let kind = EventKind::Db(DbEvent {
            statement: self.inner.fingerprints.get(statement),
            system,
            rows,
            error: error.is_some(),
            error_text: error.map(error_text),
        });
        self.emit_span(span, nanos(dur), kind);
    }

    /// Records the event of a finished span, stamped with `span`'s ids. The event started `dur_ns`
    /// nanoseconds ago.
    #[inline]
    pub fn emit_span(&self, span: TraceContext, dur_ns: u64, kind: EventKind) {
        if self.is_enabled() {
            self.record_span(span, dur_ns, kind);
        }
    }

    /// `emit_span`'s work, out of line: one copy of the stamping and queueing code serves every
    /// call site (a request runs several), which keeps the hot path's code small.
    #[inline(never)]
    fn record_span(&self, span: TraceContext, dur_ns: u64, kind: EventKind) {
        let ts_ns = crate::clock::unix_nanos().saturating_sub(dur_ns);
        self.offer(stamped(span, ts_ns, dur_ns, kind));
    }

    /// Records the event of a span that started at `start` and ends now: one clock read, the Unix
    /// timestamp derived from `start`. What middlewares and `#[instrument]` use.
    #[inline]
    pub fn emit_since(&self, span: TraceContext, start: crate::clock::Instant, kind: EventKind) {
        if self.is_enabled() {
            self.record_since(span, start, kind);
        }
    }

    /// `emit_since`'s work, out of line (see [`record_span`](Self::record_span)).
    #[inline(never)]
    fn record_since(&self, span: TraceContext, start: crate::clock::Instant, kind: EventKind) {
        let (ts_ns, dur_ns) = crate::clock::since(start);
        self.offer(stamped(span, ts_ns, dur_ns, kind));
    }

    /// Records a complete event: offers it to the collector, whose worker counts it in the stats
    /// store. An event the queue turns away (the oldest one, displaced when the queue is full, or
    /// any after shutdown) is counted in the stats store here, so the stats count every event.
    #[inline(always)]
    pub fn emit(&self, ev: Event) {
        if !self.is_enabled() {
            return;
        }
        self.offer(ev);
    }

    /// Offers a stamped event to the collector's queue, marked sampled if it is an error (errors
    /// are always exported).
    #[inline(always)]
    fn offer(&self, mut ev: Event) {
        ev.sampled |= ev.is_error();
        if let Some(turned_away) = self.inner.collector_stats.push(ev) {
            self.count_turned_away(turned_away);
        }
    }

    /// Counts an event the queue turned away (under overload, or after shutdown) in the stats
    /// store, and drops it. Out of line and cold, the drop included: the common path stays short.
    #[cold]
    #[inline(never)]
    fn count_turned_away(&self, ev: Event) {
        self.inner.stats.record(&ev);
    }

    /// A fresh span id (for integrations that build events by hand).
    pub fn span_id(&self) -> SpanId {
        SpanId::random()
    }
}

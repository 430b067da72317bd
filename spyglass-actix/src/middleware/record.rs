//! What one request records, and the per-thread caches that keep the hot path allocation-free.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::HeaderValue;
use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::{Event, Name, Spyglass, TraceContext};

use super::payload::BytesIn;

/// Which Spyglass instance a middleware records into.
#[derive(Debug, Clone)]
pub(crate) enum Instance {
    /// The global one, resolved at each request (so `install()` after building the app works).
    Global,
    /// A given one.
    Custom(Spyglass),
}

impl Instance {
    #[inline]
    pub(crate) fn get(&self) -> &Spyglass {
        match self {
            Instance::Global => spyglass_dashboard::global(),
            Instance::Custom(sg) => sg,
        }
    }
}

/// A request in flight. Emitted once, when the response body ends or is dropped.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) instance: Instance,
    pub(crate) ctx: TraceContext,
    pub(crate) start: Instant,
    pub(crate) method: &'static str,
    pub(crate) route: Name,
    pub(crate) status: u16,
    pub(crate) bytes_in: BytesIn,
    pub(crate) bytes_out: u64,
    pub(crate) error: Option<Arc<str>>,
}

impl Record {
    fn emit(self) {
        // One clock read: the start is the one taken on arrival, the timestamp derives from it.
        let dur_ns = self.start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        let ev = Event {
            ts_ns: spyglass_core::clock::unix_nanos_at(self.start),
            dur_ns,
            trace_id: self.ctx.trace_id(),
            span_id: self.ctx.span_id(),
            parent_span_id: self.ctx.parent_span_id(),
            sampled: self.ctx.is_sampled(),
            kind: EventKind::Req(ReqEvent {
                method: self.method,
                route: self.route,
                status: self.status,
                bytes_in: self.bytes_in.get(),
                bytes_out: self.bytes_out,
                error: self.error,
            }),
        };
        self.instance.get().emitter().emit(ev);
    }
}

/// Emits its record exactly once: when finished explicitly, or when dropped (client gone, or a body
/// the server never polls because it is empty).
#[derive(Debug, Default)]
pub(crate) struct Recorder(pub(crate) Option<Record>);

impl Recorder {
    #[inline]
    pub(crate) fn finish(&mut self) {
        if let Some(r) = self.0.take() {
            r.emit();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The route template as a shared [`Name`], interned per thread so the steady state allocates nothing.
pub(crate) use spyglass_core::name::intern as route_name;

/// The text of a panic payload.
pub(crate) use spyglass_core::event::panic_message;

/// `ctx`'s `traceparent` header value, without a heap allocation in the steady state.
pub(crate) fn traceparent_value(ctx: &TraceContext) -> HeaderValue {
    HeaderValue::from_maybe_shared(spyglass_core::context::traceparent_bytes(ctx)).unwrap_or_else(
        |_| HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00"),
    )
}

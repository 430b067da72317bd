//! What one request records, and the per-thread caches that keep the hot path allocation-free.

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use spyglass_core::clock::Instant;
use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::{Name, TraceContext};

use super::payload::BytesIn;

pub(crate) use spyglass_dashboard::Instance;

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
        let kind = EventKind::Req(ReqEvent {
            method: self.method,
            route: self.route,
            status: self.status,
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out,
            error: self.error,
        });
        self.instance
            .get()
            .emitter()
            .emit_since(self.ctx, self.start, kind);
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

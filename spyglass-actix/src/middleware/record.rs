//! What one request records, and the per-thread caches that keep the hot path allocation-free.

use actix_web::http::header::HeaderValue;
use spyglass_core::TraceContext;

use super::payload::BytesIn;

pub(crate) use spyglass_dashboard::Instance;

/// A request in flight (shared with the axum layer), its bytes in counted as the handler reads.
pub(crate) type Record = spyglass_dashboard::RequestRecord<BytesIn>;

/// Emits a [`Record`] exactly once.
pub(crate) use spyglass_dashboard::Recorder;

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

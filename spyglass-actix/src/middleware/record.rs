//! What one request records, and the per-thread caches that keep the hot path allocation-free.

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

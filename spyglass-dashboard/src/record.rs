//! What the HTTP middlewares record per request, shared by the axum layer and the actix middleware:
//! the request in flight and the guard that emits it exactly once.

use std::sync::Arc;

use spyglass_core::clock::Instant;
use spyglass_core::event::{EventKind, ReqEvent};
use spyglass_core::{Labels, Name, TraceContext};

use crate::Instance;

/// A count of request body bytes, read when the request is emitted: a plain number, or a counter a
/// middleware advances as the handler reads the body.
pub trait BytesIn {
    /// The bytes counted so far.
    fn bytes_in(&self) -> u64;
}

impl BytesIn for u64 {
    fn bytes_in(&self) -> u64 {
        *self
    }
}

/// A request in flight. Emitted once, through a [`Recorder`], when the response body ends or is
/// dropped.
#[derive(Debug)]
pub struct RequestRecord<B = u64> {
    /// The instance it is recorded into.
    pub instance: Instance,
    /// The request's span.
    pub ctx: TraceContext,
    /// When the request arrived.
    pub start: Instant,
    /// HTTP method (see [`spyglass_core::name::method_name`]).
    pub method: &'static str,
    /// Route template.
    pub route: Name,
    /// Response status (0 until known).
    pub status: u16,
    /// Request body bytes.
    pub bytes_in: B,
    /// Response body bytes, counted as frames pass.
    pub bytes_out: u64,
    /// Panic message or error text, when the request failed.
    pub error: Option<Arc<str>>,
    /// Labels the user's hooks attached.
    pub labels: Labels,
}

/// The status recorded for a request whose response future was dropped before the response was
/// ready: the client went away, or an outer layer (a timeout) gave up on it. It is nginx's
/// `499 Client Closed Request`. No status was sent, so it is not counted as an error; it shows in
/// the request's row, with the time until the drop as its duration.
pub const CANCELLED_STATUS: u16 = 499;

impl<B: BytesIn> RequestRecord<B> {
    /// Emits the request as cancelled: status [`CANCELLED_STATUS`], duration until now.
    #[cold]
    pub fn emit_cancelled(mut self) {
        self.status = CANCELLED_STATUS;
        self.emit();
    }

    /// Emits the request event, with its duration from `start` to now.
    pub fn emit(self) {
        let kind = EventKind::Req(ReqEvent {
            method: self.method,
            route: self.route,
            status: self.status,
            bytes_in: self.bytes_in.bytes_in(),
            bytes_out: self.bytes_out,
            error: self.error,
            labels: self.labels,
        });
        self.instance
            .get()
            .emitter()
            .emit_since(self.ctx, self.start, kind);
    }
}

/// Emits its record exactly once: when finished explicitly, or when dropped (the client gone, or a
/// body the server never polls because it is empty).
#[derive(Debug)]
pub struct Recorder<B: BytesIn = u64>(pub Option<RequestRecord<B>>);

impl<B: BytesIn> Default for Recorder<B> {
    fn default() -> Self {
        Recorder(None)
    }
}

impl<B: BytesIn> Recorder<B> {
    /// Emits the record now, if it has not been.
    #[inline]
    pub fn finish(&mut self) {
        if let Some(r) = self.0.take() {
            r.emit();
        }
    }
}

impl<B: BytesIn> Drop for Recorder<B> {
    fn drop(&mut self) {
        self.finish();
    }
}

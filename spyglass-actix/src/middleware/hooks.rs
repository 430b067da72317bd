//! Hooks in the tower-http style (as on the axum layer): run your own code when a request arrives and
//! when its response head is ready, to attach your own [`Labels`] to the recorded request (a
//! tenant, a plan, a cache outcome), to log, or to emit extra events.
//!
//! One difference from axum's: a closure hook here is `Fn`, where axum takes `FnMut` for
//! `on_request` and `FnOnce` for `on_response`. actix builds the middleware once per worker and
//! shares it behind an `Rc` with every request future, so a hook is only ever reached through `&`;
//! a hook that keeps state holds it in a `Cell`, an atomic or a mutex.

use std::time::Duration;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use spyglass_core::{Labels, TraceContext};

/// Called when a recorded request arrives, in its trace context, before the handler runs. A panic
/// here is a handler's panic: a 500 with the message recorded, the handler not called.
///
/// Exclusions are settled after routing (see [`Spyglass::exclude`](crate::Spyglass::exclude)): a
/// request whose raw path names an excluded route skips this hook, but one that routing sends to an
/// excluded route by another path (rewritten by `NormalizePath`, say) has passed it by then.
pub trait OnRequest {
    /// `ctx` is the request's trace context (the handler runs in it); what the hook adds to
    /// `labels` is recorded with the request.
    fn on_request(&self, request: &ServiceRequest, ctx: &TraceContext, labels: &mut Labels);
}

/// Called when a recorded request's response head is ready (the body may still be streaming),
/// before the head is sent. A panic here is a handler's panic: the response is dropped and a 500
/// answers instead, recorded with the panic message (and the labels set so far).
///
/// Called for an upgrade's `101` too (recorded at its head). Not called for the 500 that replaces
/// a panicking handler, for an error an inner middleware returned, nor for a request whose response
/// future was dropped before its response (recorded as cancelled): those keep the labels
/// [`OnRequest`] set. Nor for a request routed to an excluded route, which is not recorded.
pub trait OnResponse<B> {
    /// Whether the hook does anything; when `false` the middleware skips reading the clock for it.
    const ENABLED: bool = true;

    /// `latency` is the time from the request's arrival to its response head; `labels` holds what
    /// `on_request` set, and what the hook adds is recorded with the request.
    fn on_response(
        &self,
        response: &ServiceResponse<B>,
        latency: Duration,
        ctx: &TraceContext,
        labels: &mut Labels,
    );
}

/// The default [`OnRequest`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnRequest;

/// The default [`OnResponse`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnResponse;

impl OnRequest for DefaultOnRequest {
    #[inline]
    fn on_request(&self, _: &ServiceRequest, _: &TraceContext, _: &mut Labels) {}
}

impl<B> OnResponse<B> for DefaultOnResponse {
    const ENABLED: bool = false;

    #[inline]
    fn on_response(&self, _: &ServiceResponse<B>, _: Duration, _: &TraceContext, _: &mut Labels) {}
}

impl<F> OnRequest for F
where
    F: Fn(&ServiceRequest, &TraceContext, &mut Labels),
{
    fn on_request(&self, request: &ServiceRequest, ctx: &TraceContext, labels: &mut Labels) {
        self(request, ctx, labels)
    }
}

impl<B, F> OnResponse<B> for F
where
    F: Fn(&ServiceResponse<B>, Duration, &TraceContext, &mut Labels),
{
    fn on_response(
        &self,
        response: &ServiceResponse<B>,
        latency: Duration,
        ctx: &TraceContext,
        labels: &mut Labels,
    ) {
        self(response, latency, ctx, labels)
    }
}

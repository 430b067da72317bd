//! Hooks in the tower-http style: run your own code when a request arrives and when its response
//! head is ready, to attach your own [`Labels`] to the recorded request (a tenant, a plan, a cache
//! outcome), to log, or to emit extra events.

use std::time::Duration;

use http::{Request, Response};
use spyglass_core::{Labels, TraceContext};

/// Called when a recorded request arrives, in its trace context, before the handler runs. A panic
/// here is a handler's panic: a 500 with the message recorded, the handler not called.
pub trait OnRequest<B> {
    /// `ctx` is the request's trace context (the handler runs in it); what the hook adds to
    /// `labels` is recorded with the request.
    fn on_request(&mut self, request: &Request<B>, ctx: &TraceContext, labels: &mut Labels);
}

/// Called when a recorded request's response head is ready (the body may still be streaming),
/// before the head is sent. A panic here is a handler's panic: the service's response is dropped,
/// and a 500 answers instead, recorded with the panic message.
///
/// Not called for the 500 that replaces a panicking handler, when the service returns an error
/// instead of a response, nor for a request whose response future was dropped before its response
/// (recorded as cancelled): those keep the labels [`OnRequest`] set.
pub trait OnResponse<B> {
    /// `latency` is the time from the request's arrival to its response head; `labels` holds what
    /// `on_request` set, and what the hook adds is recorded with the request.
    fn on_response(
        self,
        response: &Response<B>,
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

impl<B> OnRequest<B> for DefaultOnRequest {
    #[inline]
    fn on_request(&mut self, _: &Request<B>, _: &TraceContext, _: &mut Labels) {}
}

impl<B> OnResponse<B> for DefaultOnResponse {
    #[inline]
    fn on_response(self, _: &Response<B>, _: Duration, _: &TraceContext, _: &mut Labels) {}
}

impl<B, F> OnRequest<B> for F
where
    F: FnMut(&Request<B>, &TraceContext, &mut Labels),
{
    fn on_request(&mut self, request: &Request<B>, ctx: &TraceContext, labels: &mut Labels) {
        self(request, ctx, labels)
    }
}

impl<B, F> OnResponse<B> for F
where
    F: FnOnce(&Response<B>, Duration, &TraceContext, &mut Labels),
{
    fn on_response(
        self,
        response: &Response<B>,
        latency: Duration,
        ctx: &TraceContext,
        labels: &mut Labels,
    ) {
        self(response, latency, ctx, labels)
    }
}

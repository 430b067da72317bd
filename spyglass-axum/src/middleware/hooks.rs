//! Hooks in the tower-http style: run your own code when a request arrives and when its response
//! head is ready, e.g. to add your own labels to logs or to emit extra events.

use std::time::Duration;

use http::{Request, Response};
use spyglass_core::TraceContext;

/// Called when a recorded request arrives, inside nothing yet (the handler has not run).
pub trait OnRequest<B> {
    /// `ctx` is the request's trace context (the handler runs in it).
    fn on_request(&mut self, request: &Request<B>, ctx: &TraceContext);
}

/// Called when a recorded request's response head is ready (the body may still be streaming).
pub trait OnResponse<B> {
    /// `latency` is the time from the request's arrival to its response head.
    fn on_response(self, response: &Response<B>, latency: Duration, ctx: &TraceContext);
}

/// The default [`OnRequest`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnRequest;

/// The default [`OnResponse`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnResponse;

impl<B> OnRequest<B> for DefaultOnRequest {
    #[inline]
    fn on_request(&mut self, _: &Request<B>, _: &TraceContext) {}
}

impl<B> OnResponse<B> for DefaultOnResponse {
    #[inline]
    fn on_response(self, _: &Response<B>, _: Duration, _: &TraceContext) {}
}

impl<B, F> OnRequest<B> for F
where
    F: FnMut(&Request<B>, &TraceContext),
{
    fn on_request(&mut self, request: &Request<B>, ctx: &TraceContext) {
        self(request, ctx)
    }
}

impl<B, F> OnResponse<B> for F
where
    F: FnOnce(&Response<B>, Duration, &TraceContext),
{
    fn on_response(self, response: &Response<B>, latency: Duration, ctx: &TraceContext) {
        self(response, latency, ctx)
    }
}

//! Hooks in the tower-http style (as on the axum layer): run your own code when a request arrives and
//! when its response head is ready, e.g. to add your own labels to logs or to emit extra events.
//!
//! One difference from axum's: a closure hook here is `Fn`, where axum takes `FnMut` for
//! `on_request` and `FnOnce` for `on_response`. actix builds the middleware once per worker and
//! shares it behind an `Rc` with every request future, so a hook is only ever reached through `&`;
//! a hook that keeps state holds it in a `Cell`, an atomic or a mutex.

use std::time::Duration;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use spyglass_core::TraceContext;

/// Called when a recorded request arrives, before the handler runs.
pub trait OnRequest {
    /// `ctx` is the request's trace context (the handler runs in it).
    fn on_request(&self, request: &ServiceRequest, ctx: &TraceContext);
}

/// Called when a recorded request's response head is ready (the body may still be streaming).
pub trait OnResponse<B> {
    /// Whether the hook does anything; when `false` the middleware skips reading the clock for it.
    const ENABLED: bool = true;

    /// `latency` is the time from the request's arrival to its response head.
    fn on_response(&self, response: &ServiceResponse<B>, latency: Duration, ctx: &TraceContext);
}

/// The default [`OnRequest`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnRequest;

/// The default [`OnResponse`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnResponse;

impl OnRequest for DefaultOnRequest {
    #[inline]
    fn on_request(&self, _: &ServiceRequest, _: &TraceContext) {}
}

impl<B> OnResponse<B> for DefaultOnResponse {
    const ENABLED: bool = false;

    #[inline]
    fn on_response(&self, _: &ServiceResponse<B>, _: Duration, _: &TraceContext) {}
}

impl<F> OnRequest for F
where
    F: Fn(&ServiceRequest, &TraceContext),
{
    fn on_request(&self, request: &ServiceRequest, ctx: &TraceContext) {
        self(request, ctx)
    }
}

impl<B, F> OnResponse<B> for F
where
    F: Fn(&ServiceResponse<B>, Duration, &TraceContext),
{
    fn on_response(&self, response: &ServiceResponse<B>, latency: Duration, ctx: &TraceContext) {
        self(response, latency, ctx)
    }
}

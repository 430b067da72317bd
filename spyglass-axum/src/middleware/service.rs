use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, MatchedPath};
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use spyglass_core::clock::Instant;
use spyglass_core::context;
use spyglass_core::name::method_name;
use spyglass_core::Labels;
use spyglass_dashboard::{sub_path, Dashboard, DashboardRequest};
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::hooks::{OnRequest, OnResponse};
use super::layer::SpyglassLayer;
use super::record::{bytes_in, panic_message, route_name, Record, UNMATCHED};

/// The service made by [`SpyglassLayer`]: records each request of `S` (see the [crate docs](crate)).
#[derive(Debug, Clone)]
pub struct Spyglass<S, OnReq = super::DefaultOnRequest, OnResp = super::DefaultOnResponse> {
    pub(crate) inner: S,
    pub(crate) layer: SpyglassLayer<OnReq, OnResp>,
}

impl<S> Spyglass<S> {
    /// Wraps `inner`, recording into the global instance.
    pub fn new(inner: S) -> Self {
        Spyglass {
            inner,
            layer: SpyglassLayer::new(),
        }
    }

    /// A [`SpyglassLayer`] making this service.
    pub fn layer() -> SpyglassLayer {
        SpyglassLayer::new()
    }
}

impl<S, OnReq, OnResp> Spyglass<S, OnReq, OnResp> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn peer<B>(req: &Request<B>) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| ext.get::<SocketAddr>().copied())
}

impl<S, ReqBody, ResBody, OnReq, OnResp> Service<Request<ReqBody>> for Spyglass<S, OnReq, OnResp>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + 'static,
    ResBody: Body<Data = Bytes>,
    OnReq: OnRequest<ReqBody>,
    OnResp: OnResponse<ResBody> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, OnResp>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    // Out of line, and the response future's `poll` inlined: left to itself, LLVM's choice moved
    // with unrelated code of the binary (300 instructions a request either way, session 6 of
    // benches/README.md).
    #[inline(never)]
    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let sg = self.layer.instance.get();
        if self.layer.dashboard && sg.dashboard().enabled {
            if let Some(sub) = sub_path(req.uri().path()) {
                // The dashboard answers itself; its traffic is not the application's.
                let resp = Dashboard::new(sg.clone()).handle(DashboardRequest {
                    method: req.method(),
                    path: sub,
                    query: req.uri().query(),
                    headers: req.headers(),
                    authority: req.uri().authority().map(|a| a.as_str()),
                    peer: peer(&req),
                });
                return ResponseFuture::ready(resp.into_http().map(ResponseBody::dashboard));
            }
        }
        if !sg.emitter().is_enabled() {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        let matched_path = req.extensions().get::<MatchedPath>();
        let matched = matched_path.is_some();
        let template = match matched_path {
            Some(p) => Some(p.as_str()),
            None if self.layer.path_routes => Some(req.uri().path()),
            None => self.layer.nested_route(req.uri().path()),
        };
        // Requests that match no route are excluded as `<unmatched>` (as on actix).
        let p = template.unwrap_or(crate::UNMATCHED);
        if sg.is_excluded_by(&self.layer.exclude, p) {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        let route = match template {
            Some(p) => route_name(p),
            None => UNMATCHED,
        };
        let ctx = sg.new_request_context(context::extract(req.headers()), self.layer.sampler);
        let bytes_in = bytes_in(req.body_mut());
        let method = method_name(req.method().as_str());
        let start = Instant::now();
        let mut rec = Record {
            instance: self.layer.instance.clone(),
            ctx,
            start,
            method,
            route,
            status: 0,
            bytes_in,
            bytes_out: 0,
            error: None,
            labels: Labels::new(),
        };
        // The user's hook, then the handler, in the request's context; a panic in either becomes
        // a 500 with its message recorded.
        let called = {
            let _current = ctx.enter();
            let (hook, inner, labels) =
                (&mut self.layer.on_request, &mut self.inner, &mut rec.labels);
            panic::catch_unwind(AssertUnwindSafe(|| {
                hook.on_request(&req, &ctx, labels);
                inner.call(req)
            }))
        };
        match called {
            Ok(fut) => ResponseFuture::recording(
                ctx.scope(fut),
                rec,
                self.layer
                    .has_on_response
                    .then(|| self.layer.on_response.clone()),
                self.layer.path_routes && !matched,
            ),
            Err(p) => ResponseFuture::panicked(rec, panic_message(&*p)),
        }
    }
}

use std::cell::OnceCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, ResourceMap, Service, ServiceRequest, ServiceResponse};
use spyglass_core::clock::Instant;
use spyglass_core::name::{method_name, Name};
use spyglass_core::{Labels, TraceContext};
use spyglass_dashboard::sub_path;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::hooks::{OnRequest, OnResponse};
use super::record::{panic_message, route_name, Record};
use super::transform::Spyglass;
use super::{dashboard, payload};

pub(crate) const UNMATCHED: Name = Name::from_static(crate::UNMATCHED);

/// The path of a request's `PathAndQuery` (`/` when it had none).
pub(crate) fn req_path(p: Option<&actix_web::http::uri::PathAndQuery>) -> &str {
    p.map_or("/", |p| p.path())
}

/// What the per-worker service and its request futures share.
pub(crate) struct Shared<OnReq, OnResp> {
    pub(crate) cfg: Spyglass<OnReq, OnResp>,
    /// The app's resource map, copied at the first request: names the route of a request that
    /// panicked or failed, whose request is gone by then.
    pub(crate) rmap: OnceCell<ResourceMap>,
    /// The literal heads (up to the first `{` or `*`) of this middleware's and its instance's
    /// exclusions, taken at the first request: see [`Shared::excluded_before_routing`].
    pub(crate) exclusion_heads: OnceCell<Box<[Box<str>]>>,
}

impl<OnReq, OnResp> Shared<OnReq, OnResp> {
    /// Names `rec`'s route from the raw `path`, for a request whose response never came out of
    /// routing (a panic, an inner middleware's error, a dropped future: the request is gone); the
    /// app's resource map matches it. `false` when that route is excluded: the request is then not
    /// recorded.
    #[cold]
    pub(crate) fn route_from_path(&self, rec: &mut Record, path: &str) -> bool {
        let pattern = self.rmap.get().and_then(|m| m.match_pattern(path));
        if self.is_excluded(
            rec.instance.get(),
            pattern.as_deref().unwrap_or(crate::UNMATCHED),
        ) {
            return false;
        }
        rec.route = pattern.map_or(UNMATCHED, |p| route_name(&p));
        true
    }

    /// Whether `route` (a template, or [`UNMATCHED`](crate::UNMATCHED)) is excluded by the
    /// instance or by this middleware.
    #[inline]
    pub(crate) fn is_excluded(&self, sg: &spyglass_core::Spyglass, route: &str) -> bool {
        sg.is_excluded_by(&self.cfg.exclude, route)
    }

    /// The early, positive half of the exclusions: whether `req`'s raw path matches the pattern of
    /// an excluded route, so that it passes through untouched (no trace context, hook or record).
    ///
    /// Routing has the last word (`ResponseFuture` reads the route after it): a path rewritten on
    /// the way (`NormalizePath`) or a resource refused by its guards may land elsewhere, and a path
    /// that matches no pattern here may be routed to one, so an unmatched path is never excluded
    /// here. actix's `match_pattern` builds the pattern as a `String`; only paths that begin with
    /// an exclusion's literal head (up to its first `{` or `*`) are matched, so the other requests
    /// pay a few prefix comparisons and no allocation.
    fn excluded_before_routing(&self, sg: &spyglass_core::Spyglass, req: &ServiceRequest) -> bool {
        let heads = self.exclusion_heads.get_or_init(|| {
            self.cfg
                .exclude
                .iter()
                .chain(sg.exclude_routes())
                .map(|r| r.find(['{', '*']).map_or(r.as_str(), |i| &r[..i]).into())
                .collect()
        });
        let path = req.path();
        if !heads.iter().any(|head| path.starts_with(&**head)) {
            return false;
        }
        req.match_pattern()
            .is_some_and(|p| self.is_excluded(sg, &p))
    }
}

/// The service made by [`Spyglass`]: records each request of `S` (see the [crate docs](crate)).
pub struct SpyglassMiddleware<S, OnReq = super::DefaultOnRequest, OnResp = super::DefaultOnResponse>
{
    pub(crate) service: S,
    pub(crate) shared: Rc<Shared<OnReq, OnResp>>,
}

impl<S, OnReq, OnResp> std::fmt::Debug for SpyglassMiddleware<S, OnReq, OnResp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpyglassMiddleware")
            .field("sampler", &self.shared.cfg.sampler)
            .field("exclude", &self.shared.cfg.exclude)
            .field("dashboard", &self.shared.cfg.dashboard)
            .finish_non_exhaustive()
    }
}

impl<S, OnReq, OnResp> SpyglassMiddleware<S, OnReq, OnResp> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.service
    }
}

impl<S, B, OnReq, OnResp> Service<ServiceRequest> for SpyglassMiddleware<S, OnReq, OnResp>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    OnReq: OnRequest,
    OnResp: OnResponse<B>,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S::Future, B, OnReq, OnResp>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let cfg = &self.shared.cfg;
        let sg = cfg.instance.get();
        if cfg.dashboard && sg.dashboard().enabled {
            if let Some(sub) = sub_path(req.path()) {
                // The dashboard answers itself; its traffic is not the application's.
                let resp = dashboard::answer(sg, &req, sub);
                let resp = req
                    .into_response(resp)
                    .map_body(|_, b| ResponseBody::dashboard(b));
                return ResponseFuture::ready(Ok(resp));
            }
        }
        if !sg.emitter().is_enabled() {
            return ResponseFuture::passthrough(self.service.call(req));
        }
        self.shared.rmap.get_or_init(|| req.resource_map().clone());
        if self.shared.excluded_before_routing(sg, &req) {
            return ResponseFuture::passthrough(self.service.call(req));
        }
        let remote = req
            .headers()
            .get(&super::future::TRACEPARENT)
            .and_then(|v| TraceContext::from_traceparent(v.as_bytes()).ok());
        let ctx = sg.new_request_context(remote, cfg.sampler);
        let bytes_in = payload::bytes_in(&mut req);
        // Kept to name the route should the handler panic (taking the request down with it) or the
        // future be dropped: a reference-counted clone, which actix's router makes anyway. The
        // route itself is read after routing.
        let path = req.uri().path_and_query().cloned();
        let mut rec = Record {
            instance: cfg.instance.clone(),
            ctx,
            start: Instant::now(),
            method: method_name(req.method().as_str()),
            route: UNMATCHED,
            status: 0,
            bytes_in,
            bytes_out: 0,
            error: None,
            labels: Labels::new(),
        };
        let (service, labels) = (&self.service, &mut rec.labels);
        // The user's hook, then the handler, in the request's context; a panic in either becomes
        // a 500 with its message recorded.
        let called = panic::catch_unwind(AssertUnwindSafe(|| {
            ctx.in_scope(|| {
                cfg.on_request.on_request(&req, &ctx, labels);
                service.call(req)
            })
        }));
        match called {
            Ok(fut) => ResponseFuture::recording(fut, rec, path, self.shared.clone()),
            Err(p) => ResponseFuture::ready(Err(super::future::panicked(
                rec,
                panic_message(&*p),
                req_path(path.as_ref()),
                &self.shared,
            ))),
        }
    }
}

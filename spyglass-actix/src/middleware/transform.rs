use std::cell::OnceCell;
use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use spyglass_core::sample::Sampler;

use super::body::ResponseBody;
use super::hooks::{DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse};
use super::record::Instance;
use super::service::{Shared, SpyglassMiddleware};

/// The actix-web middleware: records every request of the wrapped app and serves the dashboard at
/// `/_spyglass`. Use it with `App::new().wrap(Spyglass::new())`.
///
/// Options mirror the axum layer's: [`exclude`](Self::exclude), [`sample`](Self::sample),
/// [`dashboard`](Self::dashboard), [`on_request`](Self::on_request),
/// [`on_response`](Self::on_response). What it records, and what middlewares wrapped around it
/// see of panics (a 500 as an `Err`) and of inner middlewares' errors (passed on unchanged): the
/// [crate docs](crate#what-is-recorded).
#[derive(Debug, Clone)]
pub struct Spyglass<OnReq = DefaultOnRequest, OnResp = DefaultOnResponse> {
    pub(crate) instance: Instance,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) exclude: Arc<[String]>,
    pub(crate) dashboard: bool,
    pub(crate) on_request: OnReq,
    pub(crate) on_response: OnResp,
}

impl Default for Spyglass {
    fn default() -> Self {
        Self::new()
    }
}

impl Spyglass {
    /// Records into the global instance (created with defaults and the environment's exporters on
    /// first use, unless the application installed one).
    pub fn new() -> Self {
        Spyglass {
            instance: Instance::Global,
            sampler: None,
            exclude: Arc::from(Vec::new()),
            dashboard: true,
            on_request: DefaultOnRequest,
            on_response: DefaultOnResponse,
        }
    }

    /// Records into `sg` (e.g. a private instance in a test) and serves its dashboard.
    pub fn with_instance(sg: spyglass_core::Spyglass) -> Self {
        Spyglass {
            instance: Instance::Custom(sg),
            ..Self::new()
        }
    }
}

impl<OnReq, OnResp> Spyglass<OnReq, OnResp> {
    /// Route templates (exact, or prefixes ending in `*`; `<unmatched>` for requests that match no
    /// route) not to record, in addition to the instance's `exclude_routes`. Excluded requests get
    /// no event and no `traceparent`.
    ///
    /// The route is read after routing, as for every request, and a request routed to an excluded
    /// route is dropped then (it ran in a trace context and through [`on_request`](Self::on_request),
    /// and the request itself is not recorded; what its handler's `#[instrument]`ed functions and
    /// queries recorded stays, as spans whose parent was never exported). Before that, a request whose raw path matches an excluded
    /// route's pattern (actix's `ResourceMap::match_pattern`) passes through untouched, without
    /// trace context or hooks: the common case (`/health`) costs next to nothing. That early match
    /// sees neither resource guards nor later rewrites of the path, so a raw path that names an
    /// excluded route is excluded even if a guard or an inner `NormalizePath` sends it elsewhere.
    /// It runs only for paths that begin with an exclusion's literal head (up to its first `{` or
    /// `*`), so other requests pay a few prefix comparisons and no allocation.
    pub fn exclude<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut v: Vec<String> = self.exclude.iter().cloned().collect();
        v.extend(routes.into_iter().map(Into::into));
        self.exclude = v.into();
        self
    }

    /// Share of this middleware's traces exported, `0..=1` (default: the instance's rate). Stats count
    /// every request whatever the rate; errors are always exported.
    pub fn sample(mut self, rate: f64) -> Self {
        self.sampler = Some(Sampler::new(rate));
        self
    }

    /// Whether this middleware answers `/_spyglass` (default true, unless `SPYGLASS_DASHBOARD=off`).
    pub fn dashboard(mut self, serve: bool) -> Self {
        self.dashboard = serve;
        self
    }

    /// Runs `f` when a recorded request arrives (see [`OnRequest`]).
    pub fn on_request<F>(self, f: F) -> Spyglass<F, OnResp> {
        Spyglass {
            instance: self.instance,
            sampler: self.sampler,
            exclude: self.exclude,
            dashboard: self.dashboard,
            on_request: f,
            on_response: self.on_response,
        }
    }

    /// Runs `f` when a recorded request's response head is ready (see [`OnResponse`]).
    pub fn on_response<F>(self, f: F) -> Spyglass<OnReq, F> {
        Spyglass {
            instance: self.instance,
            sampler: self.sampler,
            exclude: self.exclude,
            dashboard: self.dashboard,
            on_request: self.on_request,
            on_response: f,
        }
    }
}

impl<S, B, OnReq, OnResp> Transform<S, ServiceRequest> for Spyglass<OnReq, OnResp>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    OnReq: OnRequest + Clone,
    OnResp: OnResponse<B> + Clone,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Transform = SpyglassMiddleware<S, OnReq, OnResp>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SpyglassMiddleware {
            service,
            shared: Rc::new(Shared {
                cfg: self.clone(),
                rmap: OnceCell::new(),
                exclusion_heads: OnceCell::new(),
            }),
        }))
    }
}

use std::sync::Arc;

use spyglass_core::sample::Sampler;
use spyglass_core::Spyglass as Instance_;
use tower_layer::Layer;

use super::hooks::{DefaultOnRequest, DefaultOnResponse};
use super::record::Instance;
use super::service::Spyglass;

/// Records every request of the wrapped service and serves the dashboard at `/_spyglass`.
///
/// With axum, add it last: `Router::new().route(…).fallback(…).layer(SpyglassLayer::new())` (see the
/// [crate docs](crate#where-layer-goes) for why).
#[derive(Debug, Clone)]
pub struct SpyglassLayer<OnReq = DefaultOnRequest, OnResp = DefaultOnResponse> {
    pub(crate) instance: Instance,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) exclude: Arc<[String]>,
    pub(crate) dashboard: bool,
    pub(crate) path_routes: bool,
    /// `nested_services`' prefixes (no trailing `/`), each with its route template (`{prefix}/*`).
    pub(crate) nested: Arc<[(Box<str>, Box<str>)]>,
    pub(crate) on_request: OnReq,
    pub(crate) on_response: OnResp,
    /// Whether `on_response` was set (the default hook is skipped, with its clock read).
    pub(crate) has_on_response: bool,
}

impl Default for SpyglassLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl SpyglassLayer {
    /// Records into the global instance (created with defaults and the environment's exporters on first
    /// use, unless the application installed one).
    pub fn new() -> Self {
        SpyglassLayer {
            instance: Instance::Global,
            sampler: None,
            exclude: Arc::from(Vec::new()),
            dashboard: true,
            path_routes: false,
            nested: Arc::from(Vec::new()),
            on_request: DefaultOnRequest,
            on_response: DefaultOnResponse,
            has_on_response: false,
        }
    }

    /// Records into `sg` (e.g. a private instance in a test) and serves its dashboard.
    pub fn with_instance(sg: Instance_) -> Self {
        SpyglassLayer {
            instance: Instance::Custom(sg),
            ..Self::new()
        }
    }
}

impl<OnReq, OnResp> SpyglassLayer<OnReq, OnResp> {
    /// Route templates (exact, or prefixes ending in `*`) not to record, in addition to the instance's
    /// `exclude_routes`. Excluded requests pass through untouched.
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

    /// Share of this layer's traces exported, `0..=1` (default: the instance's rate). Stats count every
    /// request whatever the rate; errors are always exported.
    pub fn sample(mut self, rate: f64) -> Self {
        self.sampler = Some(Sampler::new(rate));
        self
    }

    /// Whether this layer answers `/_spyglass` (default true, unless `SPYGLASS_DASHBOARD=off`).
    pub fn dashboard(mut self, serve: bool) -> Self {
        self.dashboard = serve;
        self
    }

    /// For services without axum's `MatchedPath` (tonic, plain hyper services, or this layer wrapped
    /// around a whole `Router`): record the request path as the route instead of `<unmatched>`.
    ///
    /// Only for services whose paths form a small fixed set, such as gRPC (`/package.Service/Method`):
    /// raw paths with ids would make one row per id (the stats store folds keys past its cap into
    /// `<other>`, so memory stays bounded either way). A path the service does not know, answered
    /// 404 or with gRPC's UNIMPLEMENTED, is recorded as `<unmatched>`, so scanners' paths make no
    /// rows; so is a known path that answers 404 or UNIMPLEMENTED itself (a method left
    /// unimplemented, a REST path's "no such item").
    pub fn route_from_path(mut self) -> Self {
        self.path_routes = true;
        self
    }

    /// The prefixes at which services are mounted with axum's `Router::nest_service` (a
    /// `tower_http::services::ServeDir`, a sub-application built as a plain service): their
    /// requests are recorded under one route per prefix, `{prefix}/*`.
    ///
    /// axum gives the requests of a nested *service* no `MatchedPath` (routes, and routers nested
    /// with `Router::nest`, do get one), so without this they are recorded as `<unmatched>`, in one
    /// row with the fallback's and unknown paths'.
    ///
    /// ```
    /// # use axum::Router;
    /// # use spyglass_axum::SpyglassLayer;
    /// # let assets = axum::routing::get(|| async { "a file" });
    /// let app: Router = Router::new()
    ///     .nest_service("/static", assets)
    ///     .layer(SpyglassLayer::new().nested_services(["/static"])); // recorded as `/static/*`
    /// ```
    pub fn nested_services<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut v: Vec<(Box<str>, Box<str>)> = self.nested.iter().cloned().collect();
        v.extend(prefixes.into_iter().map(|p| {
            let p = p.as_ref().trim_end_matches('/');
            (p.into(), format!("{p}/*").into())
        }));
        self.nested = v.into();
        self
    }

    /// The route template of `path` if it lies under one of [`nested_services`](Self::nested_services)'
    /// prefixes.
    pub(crate) fn nested_route(&self, path: &str) -> Option<&str> {
        self.nested.iter().find_map(|(prefix, route)| {
            let rest = path.strip_prefix(&**prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some(&**route)
        })
    }

    /// Runs `f` when a recorded request arrives (see [`OnRequest`](super::OnRequest)).
    pub fn on_request<F>(self, f: F) -> SpyglassLayer<F, OnResp> {
        SpyglassLayer {
            instance: self.instance,
            sampler: self.sampler,
            exclude: self.exclude,
            dashboard: self.dashboard,
            path_routes: self.path_routes,
            nested: self.nested,
            on_request: f,
            on_response: self.on_response,
            has_on_response: self.has_on_response,
        }
    }

    /// Runs `f` when a recorded request's response head is ready (see
    /// [`OnResponse`](super::OnResponse)).
    pub fn on_response<F>(self, f: F) -> SpyglassLayer<OnReq, F> {
        SpyglassLayer {
            instance: self.instance,
            sampler: self.sampler,
            exclude: self.exclude,
            dashboard: self.dashboard,
            path_routes: self.path_routes,
            nested: self.nested,
            on_request: self.on_request,
            on_response: f,
            has_on_response: true,
        }
    }
}

impl<S, OnReq: Clone, OnResp: Clone> Layer<S> for SpyglassLayer<OnReq, OnResp> {
    type Service = Spyglass<S, OnReq, OnResp>;

    fn layer(&self, inner: S) -> Self::Service {
        Spyglass {
            inner,
            layer: self.clone(),
        }
    }
}

//! Prometheus metrics, built on the [`prometheus`] crate.
//!
//! Every event the exporter receives is counted, sampled or not (sampling applies to traces and
//! logs, never to metrics). Names and labels follow OpenTelemetry's semantic conventions for HTTP
//! and databases and autometrics' names for functions, so existing dashboards work unchanged:
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `http_server_request_duration_seconds` | histogram | `http_request_method`, `http_route`, `http_response_status_code` |
//! | `function_calls_total` | counter | `function`, `module`, `result` (`ok` \| `error`) |
//! | `function_calls_duration_seconds` | histogram | `function`, `module` |
//! | `db_client_operation_duration_seconds` | histogram | `db_system_name`, `db_query_summary` |
//! | `spyglass_events_emitted_total`, `spyglass_events_dropped_total`, `spyglass_events_exported_total`, `spyglass_export_errors_total` | counter | |
//! | `spyglass_queue_depth`, `spyglass_queue_capacity` | gauge | |
//! | `spyglass_build_info` | gauge (always 1) | `service_name`, `service_version`, `spyglass_version` |
//!
//! Histograms use OpenTelemetry's default boundaries, 5 ms to 10 s ([`BUCKETS`]). Label values are
//! bounded: route templates, function names and query fingerprints, never raw paths or SQL, and
//! at most [`max_series`](PrometheusExporter::max_series) distinct routes (method and route),
//! functions and queries, past which new ones fold into `<other>`. A route kept has one series per
//! status code it answers with, so its error statuses show up when they first appear; the status
//! codes are the application's own (three-digit HTTP codes). A route folded into `<other>` keeps
//! its method and status code.
//!
//! # Events dropped under overload
//!
//! The request, function and query metrics count the events the collector handed to the exporter:
//! the `_count` series of the three duration histograms add up to `spyglass_events_exported_total`.
//! An event the collector's queue turned away (the oldest one, displaced when the queue was full,
//! or one emitted after shutdown) never reaches an exporter: it is counted in
//! `spyglass_events_dropped_total`, not in the duration histograms, while the dashboard's
//! `/_spyglass/api/stats` counts it (the stats are kept before the queue).
//! `spyglass_events_emitted_total` is `exported + dropped + queue_depth` (plus a batch in flight).
//! So when `increase(spyglass_events_dropped_total[…])` is above 0 (the `SpyglassEventsDropped`
//! alert of `deploy/prometheus-alerts.yml`), the histograms undercount the window by that many
//! events, of unknown kinds and routes; `dropped / emitted` is the share missing. Raise
//! `queue_size` or find the slow exporter (`spyglass_export_errors_total`).
//!
//! The exposition is served at `/_spyglass/metrics` by the middlewares (through
//! [`Exporter::metrics_renderer`]); to serve it on a `/metrics` route of your own, keep a
//! [`PrometheusHandle`] and call [`PrometheusHandle::render`], or call [`render`] for the global
//! instance.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use spyglass_exporters::PrometheusExporter;
//!
//! let prom = PrometheusExporter::new();
//! let metrics = prom.handle();
//! let sg = spyglass_core::Spyglass::builder().service_name("shop").exporter(prom).build().unwrap();
//! sg.emitter().emit_req("GET", "/users/{id}", 200, Duration::from_millis(15));
//! sg.flush(Duration::from_secs(5));
//!
//! let text = metrics.render();
//! assert!(text.contains(
//!     r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}"} 1"#
//! ));
//! // The instance serves the same text at /_spyglass/metrics:
//! assert!(sg.render_metrics().unwrap().contains("spyglass_build_info"));
//! ```
//!
//! # Cost
//!
//! On the collector thread, each event costs one hash lookup of its key in a cache of already
//! resolved label children (never `with_label_values`) and one unsynchronised histogram update; the
//! touched histograms are published once per batch.

use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ::prometheus::core::{Collector, Desc};
use ::prometheus::local::LocalHistogram;
use ::prometheus::proto::MetricFamily;
use ::prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use hashbrown::{Equivalent, HashMap, HashSet};
use parking_lot::{Mutex, RwLock};
use spyglass_core::event::{Event, EventKind};
use spyglass_core::export::{Batch, ExportError, Exporter, Resource};
use spyglass_core::stats::CollectorSnapshot;
use spyglass_core::{MetricsRenderer, Name};

/// Histogram boundaries in seconds: OpenTelemetry's defaults for `http.server.request.duration`.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The `Content-Type` of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Default cap on distinct routes (method and route), functions and queries, each kind on its own.
pub const DEFAULT_MAX_SERIES: usize = 1000;

/// The label value that routes, functions and queries past the cap fold into.
pub const OTHER: &str = "<other>";

/// Supplies the collector's counters to the `spyglass_*` health metrics at render time.
pub type HealthSource = Arc<dyn Fn() -> Option<CollectorSnapshot> + Send + Sync>;

/// The text exposition of the global instance's Prometheus exporter, or `None` when the global
/// instance does not exist or has no Prometheus exporter. For a `/metrics` route of your own.
pub fn render() -> Option<String> {
    spyglass_core::try_global()?.render_metrics()
}

/// Counts every event it receives into Prometheus metrics. See the [module docs](self).
pub struct PrometheusExporter {
    shared: Arc<Shared>,
    families: Families,
    max_series: usize,
    /// Label children resolved so far, by key (text); values index `locals` / `fn_slots`.
    req: HashMap<ReqKey, usize>,
    /// The (method, route) pairs given their own series, at most `max_series`: the cap counts
    /// routes, not (method, route, status) sets, so a kept route keeps every status it answers
    /// with.
    routes: HashSet<RouteKey>,
    func: HashMap<FnKey, usize>,
    db: HashMap<DbKey, usize>,
    fn_slots: Vec<FnSlot>,
    /// The fast path: the same keys by the identity (address and length) of their shared names.
    /// Routers, `#[instrument]` and the statement interner hand out one shared allocation per
    /// name, so this usually hits, and costs one integer hash instead of hashing and comparing
    /// strings. `pinned` keeps every name used as a key alive, so an address is never reused by
    /// another string while it is in this map.
    fast: HashMap<FastKey, usize, BuildHasherDefault<Fx>>,
    pinned: Vec<Name>,
    /// Unsynchronised histograms, published (flushed) at the end of each batch.
    locals: Vec<LocalSlot>,
    /// Indices into `locals` touched by the current batch.
    dirty: Vec<usize>,
}

struct LocalSlot {
    hist: LocalHistogram,
    dirty: bool,
}

struct FnSlot {
    local: usize,
    ok: IntCounter,
    error: IntCounter,
}

#[derive(Clone)]
struct Families {
    req: HistogramVec,
    fn_calls: IntCounterVec,
    fn_dur: HistogramVec,
    db: HistogramVec,
}

impl fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusExporter")
            .field("max_series", &self.max_series)
            .field("routes", &self.routes.len())
            .field("request_series", &self.req.len())
            .field("functions", &self.func.len())
            .field("fast_path_entries", &self.fast.len())
            .field("queries", &self.db.len())
            .finish()
    }
}

/// Renders this exporter's metrics; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct PrometheusHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for PrometheusHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusHandle").finish_non_exhaustive()
    }
}

struct Shared {
    registry: Registry,
    health: Arc<Health>,
}

impl PrometheusExporter {
    /// An exporter with its own registry.
    pub fn new() -> Self {
        Self::with_registry(Registry::new())
            .expect("a fresh registry has no metric with these names")
    }

    /// An exporter registering its metrics in `registry` (yours, next to your own metrics), so that
    /// one render returns both. Fails if `registry` holds metrics with the same names already.
    pub fn with_registry(registry: Registry) -> Result<Self, ::prometheus::Error> {
        let buckets = BUCKETS.to_vec();
        let families = Families {
            req: HistogramVec::new(
                HistogramOpts::new(
                    "http_server_request_duration_seconds",
                    "Duration of HTTP server requests.",
                )
                .buckets(buckets.clone()),
                &[
                    "http_request_method",
                    "http_route",
                    "http_response_status_code",
                ],
            )?,
            fn_calls: IntCounterVec::new(
                Opts::new("function_calls_total", "Calls of instrumented functions."),
                &["function", "module", "result"],
            )?,
            fn_dur: HistogramVec::new(
                HistogramOpts::new(
                    "function_calls_duration_seconds",
                    "Duration of calls of instrumented functions.",
                )
                .buckets(buckets.clone()),
                &["function", "module"],
            )?,
            db: HistogramVec::new(
                HistogramOpts::new(
                    "db_client_operation_duration_seconds",
                    "Duration of database client operations.",
                )
                .buckets(buckets),
                &["db_system_name", "db_query_summary"],
            )?,
        };
        let health = Arc::new(Health::new()?);
        registry.register(Box::new(families.req.clone()))?;
        registry.register(Box::new(families.fn_calls.clone()))?;
        registry.register(Box::new(families.fn_dur.clone()))?;
        registry.register(Box::new(families.db.clone()))?;
        registry.register(Box::new(HealthCollector(health.clone())))?;
        Ok(PrometheusExporter {
            shared: Arc::new(Shared { registry, health }),
            families,
            max_series: DEFAULT_MAX_SERIES,
            req: HashMap::new(),
            routes: HashSet::new(),
            func: HashMap::new(),
            db: HashMap::new(),
            fn_slots: Vec::new(),
            fast: HashMap::default(),
            pinned: Vec::new(),
            locals: Vec::new(),
            dirty: Vec::new(),
        })
    }

    /// Cap on distinct routes (method and route), functions and queries, each kind on its own
    /// (default [`DEFAULT_MAX_SERIES`]); past it, new ones are counted under [`OTHER`]. A route
    /// within the cap gets one series per status code it answers with (and a function two
    /// `function_calls_total` series, `ok` and `error`), so a series count can exceed `n`.
    pub fn max_series(mut self, n: usize) -> Self {
        self.max_series = n.max(1);
        self
    }

    /// A handle that renders the text exposition, to keep before handing the exporter to the
    /// builder.
    pub fn handle(&self) -> PrometheusHandle {
        PrometheusHandle {
            shared: self.shared.clone(),
        }
    }

    /// Where the `spyglass_*` health metrics come from; by default the collector of the instance
    /// this exporter was installed in. Set it to publish another instance's counters.
    pub fn health_source(
        self,
        f: impl Fn() -> Option<CollectorSnapshot> + Send + Sync + 'static,
    ) -> Self {
        *self.shared.health.source.write() = Some(Arc::new(f));
        self
    }

    #[inline]
    fn local_for_req(&mut self, method: &'static str, route: &Name, status: u16) -> usize {
        let key = ReqKeyRef {
            method,
            route: route.as_str(),
            status,
        };
        if let Some(&i) = self.req.get(&key) {
            return i;
        }
        self.new_req(method, route, status)
    }

    /// A new (method, route, status) set: its own series if the route is kept (or there is room
    /// for it), else the `<other>` series of its method and status.
    #[cold]
    fn new_req(&mut self, method: &'static str, route: &Name, status: u16) -> usize {
        let pair = PairRef(method, route.as_str());
        let route = if self.routes.contains(&pair) {
            route.clone()
        } else if self.routes.len() < self.max_series {
            self.routes.insert(RouteKey(method, route.clone()));
            route.clone()
        } else {
            let other = ReqKeyRef {
                method,
                route: OTHER,
                status,
            };
            if let Some(&i) = self.req.get(&other) {
                return i;
            }
            Name::from_static(OTHER)
        };
        let code = status.to_string();
        let h = self
            .families
            .req
            .with_label_values(&[method, route.as_str(), code.as_str()]);
        let i = push_local(&mut self.locals, h.local());
        self.req.insert(
            ReqKey {
                method,
                route,
                status,
            },
            i,
        );
        i
    }

    #[inline]
    fn slot_for_fn(&mut self, name: &Name, module: &Name) -> usize {
        if let Some(&i) = self.func.get(&PairRef(name.as_str(), module.as_str())) {
            return i;
        }
        self.new_fn(name, module)
    }

    #[cold]
    fn new_fn(&mut self, name: &Name, module: &Name) -> usize {
        let (name, module) = if self.func.len() >= self.max_series {
            (Name::from_static(OTHER), Name::from_static(OTHER))
        } else {
            (name.clone(), module.clone())
        };
        if let Some(&i) = self.func.get(&PairRef(name.as_str(), module.as_str())) {
            return i;
        }
        let (n, m) = (name.as_str(), module.as_str());
        let slot = FnSlot {
            local: push_local(
                &mut self.locals,
                self.families.fn_dur.with_label_values(&[n, m]).local(),
            ),
            ok: self.families.fn_calls.with_label_values(&[n, m, "ok"]),
            error: self.families.fn_calls.with_label_values(&[n, m, "error"]),
        };
        self.fn_slots.push(slot);
        let i = self.fn_slots.len() - 1;
        self.func.insert(FnKey(name, module), i);
        i
    }

    #[inline]
    fn local_for_db(&mut self, system: &'static str, statement: &Name) -> usize {
        let key = PairRef(system, statement.as_str());
        if let Some(&i) = self.db.get(&key) {
            return i;
        }
        self.new_db(system, statement)
    }

    #[cold]
    fn new_db(&mut self, system: &'static str, statement: &Name) -> usize {
        let statement = if self.db.len() >= self.max_series {
            if let Some(&i) = self.db.get(&PairRef(system, OTHER)) {
                return i;
            }
            Name::from_static(OTHER)
        } else {
            statement.clone()
        };
        let h = self
            .families
            .db
            .with_label_values(&[system, statement.as_str()]);
        let i = push_local(&mut self.locals, h.local());
        self.db
            .insert(DbKey(Name::from_static(system), statement), i);
        i
    }

    /// Counts one event (without publishing: see [`publish`](Self::publish)).
    #[inline]
    fn record(&mut self, ev: &Event) {
        let secs = ev.dur_ns as f64 * 1e-9;
        let i = match &ev.kind {
            EventKind::Req(r) => {
                let k = FastKey(
                    addr(&r.route),
                    r.route.len(),
                    r.method.as_ptr() as usize,
                    usize::from(r.status) | TAG_REQ,
                );
                match self.fast.get(&k) {
                    Some(&i) => i,
                    None => {
                        let i = self.local_for_req(r.method, &r.route, r.status);
                        self.remember(k, i, [Some(&r.route), None]);
                        i
                    }
                }
            }
            EventKind::Fn(f) => {
                let k = FastKey(
                    addr(&f.name),
                    f.name.len(),
                    addr(&f.module),
                    f.module.len() | TAG_FN,
                );
                let si = match self.fast.get(&k) {
                    Some(&i) => i,
                    None => {
                        let i = self.slot_for_fn(&f.name, &f.module);
                        self.remember(k, i, [Some(&f.name), Some(&f.module)]);
                        i
                    }
                };
                let slot = &self.fn_slots[si];
                if f.error {
                    slot.error.inc();
                } else {
                    slot.ok.inc();
                }
                slot.local
            }
            EventKind::Db(d) => {
                let k = FastKey(
                    d.system.as_ptr() as usize,
                    d.system.len(),
                    addr(&d.statement),
                    d.statement.len() | TAG_DB,
                );
                match self.fast.get(&k) {
                    Some(&i) => i,
                    None => {
                        let i = self.local_for_db(d.system, &d.statement);
                        self.remember(k, i, [Some(&d.statement), None]);
                        i
                    }
                }
            }
        };
        let slot = &mut self.locals[i];
        slot.hist.observe(secs);
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(i);
        }
    }

    /// Adds a fast-path entry, pinning the names whose addresses it uses. Bounded: past the cap,
    /// new identities take the (still allocation-free) lookup by text.
    #[cold]
    fn remember(&mut self, k: FastKey, i: usize, names: [Option<&Name>; 2]) {
        if self.fast.len() >= FAST_PER_SERIES * self.max_series.max(64) {
            return;
        }
        self.pinned.extend(names.into_iter().flatten().cloned());
        self.fast.insert(k, i);
    }

    /// Publishes the histograms touched since the last call.
    fn publish(&mut self) {
        for i in self.dirty.drain(..) {
            let slot = &mut self.locals[i];
            slot.hist.flush();
            slot.dirty = false;
        }
    }
}

fn push_local(locals: &mut Vec<LocalSlot>, hist: LocalHistogram) -> usize {
    locals.push(LocalSlot { hist, dirty: false });
    locals.len() - 1
}

impl Default for PrometheusExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Exporter for PrometheusExporter {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn metrics_renderer(&mut self) -> Option<MetricsRenderer> {
        let shared = self.shared.clone();
        Some(Arc::new(move || shared.render()))
    }

    fn start(&mut self, resource: &Resource) -> Result<(), ExportError> {
        let h = &self.shared.health;
        let _ = h.resource.set(resource.clone());
        h.build_info
            .with_label_values(&[
                &*resource.service_name,
                resource.service_version.as_deref().unwrap_or(""),
                env!("CARGO_PKG_VERSION"),
            ])
            .set(1);
        Ok(())
    }

    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        for ev in batch.events {
            self.record(ev);
        }
        self.publish();
        self.shared
            .health
            .seen
            .fetch_add(batch.events.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl PrometheusHandle {
    /// The text exposition (format 0.0.4) of every metric in the exporter's registry.
    pub fn render(&self) -> String {
        self.shared.render()
    }

    /// The registry holding the exporter's metrics: register your own metrics in it to have them
    /// rendered too.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// See [`PrometheusExporter::health_source`].
    pub fn set_health_source(
        &self,
        f: impl Fn() -> Option<CollectorSnapshot> + Send + Sync + 'static,
    ) {
        *self.shared.health.source.write() = Some(Arc::new(f));
    }
}

impl Shared {
    fn render(&self) -> String {
        let families = self.registry.gather();
        let mut out = String::with_capacity(4096);
        // Encoding into a String only fails on invalid metric families, which the registry rejects
        // at registration.
        if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
            out.push_str(&format!("# spyglass: encoding failed: {e}\n"));
        }
        out
    }
}

// ---- health metrics, read at render time ----

struct Health {
    emitted: IntCounter,
    dropped: IntCounter,
    exported: IntCounter,
    export_errors: IntCounter,
    queue_depth: IntGauge,
    queue_capacity: IntGauge,
    build_info: IntGaugeVec,
    /// Serialises updates of the counters above during concurrent renders.
    update: Mutex<()>,
    /// Events this exporter received (the `exported` figure when no collector is known).
    seen: AtomicU64,
    resource: OnceLock<Resource>,
    source: RwLock<Option<HealthSource>>,
}

impl Health {
    fn new() -> Result<Self, ::prometheus::Error> {
        Ok(Health {
            emitted: IntCounter::new(
                "spyglass_events_emitted_total",
                "Events offered to the collector queue.",
            )?,
            dropped: IntCounter::new(
                "spyglass_events_dropped_total",
                "Events dropped because the queue was full (oldest first) or after shutdown.",
            )?,
            exported: IntCounter::new(
                "spyglass_events_exported_total",
                "Events handed to the exporters.",
            )?,
            export_errors: IntCounter::new(
                "spyglass_export_errors_total",
                "Failed exporter calls.",
            )?,
            queue_depth: IntGauge::new("spyglass_queue_depth", "Events waiting in the queue.")?,
            queue_capacity: IntGauge::new("spyglass_queue_capacity", "Capacity of the queue.")?,
            build_info: IntGaugeVec::new(
                Opts::new(
                    "spyglass_build_info",
                    "Always 1; the service and Spyglass versions as labels.",
                ),
                &["service_name", "service_version", "spyglass_version"],
            )?,
            update: Mutex::new(()),
            seen: AtomicU64::new(0),
            resource: OnceLock::new(),
            source: RwLock::new(None),
        })
    }

    /// The collector's counters: from the configured source, else from the instance this exporter
    /// was installed in (its resource).
    fn snapshot(&self) -> Option<CollectorSnapshot> {
        if let Some(f) = self.source.read().clone() {
            return f();
        }
        self.resource.get()?.collector()
    }
}

fn set_counter(c: &IntCounter, v: u64) {
    let cur = c.get();
    if v > cur {
        c.inc_by(v - cur);
    } else if v < cur {
        c.reset();
        c.inc_by(v);
    }
}

struct HealthCollector(Arc<Health>);

impl Collector for HealthCollector {
    fn desc(&self) -> Vec<&Desc> {
        let h = &self.0;
        let mut d = Vec::new();
        d.extend(h.emitted.desc());
        d.extend(h.dropped.desc());
        d.extend(h.exported.desc());
        d.extend(h.export_errors.desc());
        d.extend(h.queue_depth.desc());
        d.extend(h.queue_capacity.desc());
        d.extend(h.build_info.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let h = &self.0;
        let _guard = h.update.lock();
        let mut out = Vec::with_capacity(7);
        match h.snapshot() {
            Some(s) => {
                set_counter(&h.emitted, s.emitted);
                set_counter(&h.dropped, s.dropped);
                set_counter(&h.exported, s.exported);
                set_counter(&h.export_errors, s.export_errors);
                h.queue_depth.set(s.queue_depth as i64);
                h.queue_capacity.set(s.queue_capacity as i64);
                out.extend(h.emitted.collect());
                out.extend(h.dropped.collect());
                out.extend(h.exported.collect());
                out.extend(h.export_errors.collect());
                out.extend(h.queue_depth.collect());
                out.extend(h.queue_capacity.collect());
            }
            None => {
                set_counter(&h.exported, h.seen.load(Ordering::Relaxed));
                out.extend(h.exported.collect());
            }
        }
        out.extend(h.build_info.collect());
        out
    }
}

// ---- cache keys: owned keys in the maps, borrowed keys for lookups (no allocation per event) ----

#[derive(PartialEq, Eq)]
struct ReqKey {
    method: &'static str,
    route: Name,
    status: u16,
}

struct ReqKeyRef<'a> {
    method: &'static str,
    route: &'a str,
    status: u16,
}

impl Hash for ReqKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        ReqKeyRef {
            method: self.method,
            route: self.route.as_str(),
            status: self.status,
        }
        .hash(h)
    }
}

impl Hash for ReqKeyRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.method.hash(h);
        self.route.hash(h);
        self.status.hash(h);
    }
}

impl Equivalent<ReqKey> for ReqKeyRef<'_> {
    #[inline]
    fn equivalent(&self, k: &ReqKey) -> bool {
        self.status == k.status && self.method == k.method && self.route == k.route.as_str()
    }
}

/// (function, module) or (system, statement).
#[derive(Clone, PartialEq, Eq)]
struct FnKey(Name, Name);
#[derive(PartialEq, Eq)]
struct DbKey(Name, Name);
/// (method, route).
#[derive(PartialEq, Eq)]
struct RouteKey(&'static str, Name);

struct PairRef<'a>(&'a str, &'a str);

impl Hash for PairRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
        self.1.hash(h);
    }
}

impl Hash for FnKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        PairRef(self.0.as_str(), self.1.as_str()).hash(h)
    }
}

impl Hash for DbKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        PairRef(self.0.as_str(), self.1.as_str()).hash(h)
    }
}

impl Hash for RouteKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        PairRef(self.0, self.1.as_str()).hash(h)
    }
}

impl Equivalent<FnKey> for PairRef<'_> {
    #[inline]
    fn equivalent(&self, k: &FnKey) -> bool {
        self.0 == k.0.as_str() && self.1 == k.1.as_str()
    }
}

impl Equivalent<DbKey> for PairRef<'_> {
    #[inline]
    fn equivalent(&self, k: &DbKey) -> bool {
        self.0 == k.0.as_str() && self.1 == k.1.as_str()
    }
}

impl Equivalent<RouteKey> for PairRef<'_> {
    #[inline]
    fn equivalent(&self, k: &RouteKey) -> bool {
        self.0 == k.0 && self.1 == k.1.as_str()
    }
}

/// (address, length) of two names, or of a name and a `&'static str`, plus a kind tag in the top
/// bits of the last length (a status code for requests).
#[derive(PartialEq, Eq, Hash, Clone, Copy)]
struct FastKey(usize, usize, usize, usize);

const TAG_REQ: usize = 1 << (usize::BITS - 2);
const TAG_FN: usize = 2 << (usize::BITS - 2);
const TAG_DB: usize = 3 << (usize::BITS - 2);
/// Fast-path entries allowed per series (several threads may hold their own copy of a name).
const FAST_PER_SERIES: usize = 8;

#[inline]
fn addr(n: &Name) -> usize {
    n.as_str().as_ptr() as usize
}

/// FxHash (rustc's): one rotate, xor and multiply per word; plenty for integer keys.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(events: &[Event], resource: &Resource) -> String {
        let mut e = PrometheusExporter::new().max_series(2);
        let h = e.handle();
        e.start(resource).unwrap();
        e.export(&Batch { events, resource }).unwrap();
        h.render()
    }

    #[test]
    fn label_sets_are_capped_into_other() {
        let resource = Resource::new("s");
        let events: Vec<Event> = (0..5)
            .map(|i| Event::request("GET", format!("/r{i}"), 200, 1_000_000))
            .collect();
        let text = batch_of(&events, &resource);
        assert!(text.contains(r#"http_route="/r0""#));
        assert!(text.contains(r#"http_route="/r1""#));
        assert!(!text.contains(r#"http_route="/r2""#));
        assert!(text.contains(
            r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="<other>"} 3"#
        ), "{text}");
    }

    #[test]
    fn the_cap_counts_routes_not_status_codes() {
        let resource = Resource::new("s");
        let mut events = Vec::new();
        for status in [200, 404, 500, 503] {
            events.push(Event::request("GET", "/a", status, 1_000_000));
        }
        // A second route takes the second place; its new statuses still get their own series.
        events.push(Event::request("GET", "/b", 200, 1_000_000));
        events.push(Event::request("GET", "/c", 503, 1_000_000));
        events.push(Event::request("GET", "/b", 503, 1_000_000));
        events.push(Event::request("POST", "/a", 503, 1_000_000));
        let text = batch_of(&events, &resource);
        let count = |method: &str, status: u16, route: &str| {
            format!(
                r#"http_server_request_duration_seconds_count{{http_request_method="{method}",http_response_status_code="{status}",http_route="{route}"}} 1"#
            )
        };
        for status in [200, 404, 500, 503] {
            assert!(text.contains(&count("GET", status, "/a")), "{text}");
        }
        assert!(text.contains(&count("GET", 200, "/b")), "{text}");
        assert!(text.contains(&count("GET", 503, "/b")), "{text}");
        // Past the cap of 2 (method, route) pairs: /c, and /a under another method, fold.
        assert!(!text.contains(r#"http_route="/c""#), "{text}");
        assert!(text.contains(&count("GET", 503, OTHER)), "{text}");
        assert!(text.contains(&count("POST", 503, OTHER)), "{text}");
        let mut e = PrometheusExporter::new().max_series(2);
        e.export(&Batch {
            events: &events,
            resource: &resource,
        })
        .unwrap();
        assert_eq!((e.routes.len(), e.req.len()), (2, 8));
    }

    #[test]
    fn one_series_whatever_allocation_holds_the_name() {
        let resource = Resource::new("s");
        let shared: Name = Arc::<str>::from("/u/{id}").into();
        let events = [
            Event::request("GET", "/u/{id}", 200, 1_000_000),
            Event::request("GET", shared.clone(), 200, 1_000_000),
            Event::request("GET", shared, 200, 1_000_000),
            Event::request("GET", String::from("/u/{id}"), 200, 1_000_000),
            Event::request("GET", "/u/{id}", 404, 1_000_000),
            Event::function("f", "m", 1, false),
            Event::function(String::from("f"), "m", 1, true),
            Event::query("SELECT ?", "sqlite", None, 1),
            Event::query(String::from("SELECT ?"), "sqlite", None, 1),
        ];
        let mut e = PrometheusExporter::new();
        let h = e.handle();
        e.start(&resource).unwrap();
        e.export(&Batch {
            events: &events,
            resource: &resource,
        })
        .unwrap();
        e.export(&Batch {
            events: &events,
            resource: &resource,
        })
        .unwrap();
        let text = h.render();
        assert!(text.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/u/{id}"} 8"#), "{text}");
        assert!(text.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",http_route="/u/{id}"} 2"#), "{text}");
        assert!(
            text.contains(r#"function_calls_duration_seconds_count{function="f",module="m"} 4"#),
            "{text}"
        );
        assert!(text.contains(r#"db_client_operation_duration_seconds_count{db_query_summary="SELECT ?",db_system_name="sqlite"} 4"#), "{text}");
    }

    #[test]
    fn every_event_counts_sampled_or_not() {
        let resource = Resource::new("s");
        let mut a = Event::function("f", "m", 2_000_000, false);
        a.sampled = false;
        let b = Event::function("f", "m", 3_000_000, true);
        let text = batch_of(&[a, b], &resource);
        assert!(text.contains(r#"function_calls_total{function="f",module="m",result="ok"} 1"#));
        assert!(text.contains(r#"function_calls_total{function="f",module="m",result="error"} 1"#));
        assert!(
            text.contains(r#"function_calls_duration_seconds_count{function="f",module="m"} 2"#)
        );
        assert!(text.contains("spyglass_events_exported_total 2"), "{text}");
    }
}

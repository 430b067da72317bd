//! Spyglass core: trace context, events, emitter, drop-oldest collector, rolling stats, sampling and
//! SQL redaction.
//!
//! Applications depend on the `spyglass` facade, which re-exports this crate. Integrations (the
//! middlewares, database hooks, exporters) depend on this crate directly.
//!
//! Data flows one way: middleware / macro / DB hook → [`emitter`](mod@emitter) → drop-oldest queue →
//! [`collector`] thread → [`stats`](mod@stats) store, the [`recent`] flight recorder behind the dashboard, and
//! the [`export`]ers. An emit is a clock reading, ids and one queue push; everything else happens on
//! the collector thread.
//!
//! # In an application
//!
//! ```
//! use std::time::Duration;
//!
//! let guard = spyglass_core::Spyglass::builder()
//!     .service_name("shop")
//!     .install()
//!     .expect("spyglass installed once");
//! spyglass_core::emitter().emit_fn("checkout", Duration::from_micros(250), false);
//! drop(guard); // flushes every queued event to the exporters
//! ```
//!
//! Without `install()`, the first use creates a default instance (stats on, exporters from the
//! environment, see [`config`]).
//!
//! # In a library
//!
//! Emit through [`emitter()`] (or `#[spyglass::instrument]`) and leave installing to the
//! application: a library must never call `install()`.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod clock;
pub mod collector;
pub mod config;
pub mod context;
pub mod emitter;
pub mod event;
pub mod export;
mod histogram;
#[doc(hidden)]
pub mod instrument;
pub mod name;
pub mod recent;
pub mod redact;
pub mod sample;
pub mod stats;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;

pub use config::{Builder, ConfigError};
pub use context::{TraceContext, TraceId};
pub use emitter::Emitter;
pub use event::{Event, EventKind, Labels};
pub use export::{Batch, ExportError, Exporter, Resource};
pub use name::Name;
pub use stats::{StatsSnapshot, StatsStore};

use collector::{Collector, CollectorConfig, CollectorStats};
use config::DashboardSettings;
use recent::Recent;
use redact::Fingerprints;
use sample::Sampler;

/// Renders the Prometheus text exposition (registered by the Prometheus exporter).
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

pub(crate) struct Inner {
    enabled: bool,
    resource: Resource,
    sampler: Sampler,
    stats: Arc<StatsStore>,
    collector_stats: Arc<CollectorStats>,
    collector: Collector,
    recent: Arc<Recent>,
    fingerprints: Fingerprints,
    exclude_routes: Vec<String>,
    dashboard: DashboardSettings,
    metrics: RwLock<Option<MetricsRenderer>>,
    pending_env: parking_lot::Mutex<Option<config::EnvExporters>>,
    streams_epoch: std::sync::atomic::AtomicU64,
}

impl Inner {
    #[inline]
    fn new_root(&self) -> TraceContext {
        let ctx = TraceContext::new_root(true);
        ctx.with_sampled(self.sampler.sample(ctx.trace_id()))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.collector.shutdown();
    }
}

/// One Spyglass instance: its stats store, collector and exporters. Cheap to clone (a shared handle).
///
/// Most applications use the global instance through the free functions ([`emitter()`], [`stats()`],
/// [`shutdown()`]) and [`Builder::install`]; tests may build private instances with
/// [`Builder::build`]. A private instance's collector stops when its last handle drops.
#[derive(Clone)]
pub struct Spyglass {
    inner: Arc<Inner>,
}

impl fmt::Debug for Spyglass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spyglass")
            .field("service", &self.inner.resource.service_name)
            .field("enabled", &self.inner.enabled)
            .finish()
    }
}

impl Spyglass {
    /// A builder with default settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The emitter of this instance.
    #[inline]
    pub fn emitter(&self) -> Emitter<'_> {
        Emitter { inner: &self.inner }
    }

    /// The stats store.
    pub fn stats(&self) -> &StatsStore {
        &self.inner.stats
    }

    /// The flight recorder of recent events, errors and traces.
    pub fn recent(&self) -> &Recent {
        &self.inner.recent
    }

    /// Collector counters.
    pub fn collector(&self) -> stats::CollectorSnapshot {
        self.inner.collector_stats.snapshot()
    }

    /// Service name.
    pub fn service_name(&self) -> &str {
        &self.inner.resource.service_name
    }

    /// Service identity handed to exporters.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// Whether recording is on.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The instance's sampler.
    pub fn sampler(&self) -> Sampler {
        self.inner.sampler
    }

    /// Route templates the middlewares skip.
    pub fn exclude_routes(&self) -> &[String] {
        &self.inner.exclude_routes
    }

    /// Whether the middlewares skip `route` (exact template, or a prefix given as `prefix*`).
    pub fn is_excluded(&self, route: &str) -> bool {
        config::route_matches(&self.inner.exclude_routes, route)
    }

    /// Whether a middleware with its own exclusions `extra` (read the same way) skips `route`:
    /// excluded by the instance or by the middleware.
    pub fn is_excluded_by(&self, extra: &[String], route: &str) -> bool {
        self.is_excluded(route) || config::route_matches(extra, route)
    }

    /// Dashboard settings.
    pub fn dashboard(&self) -> &DashboardSettings {
        &self.inner.dashboard
    }

    /// A new root context for an incoming request: continues `remote_parent`'s trace when given (a
    /// parsed `traceparent`), else starts a new one. The sampling decision comes from `sampler`
    /// (the instance's when `None`).
    pub fn new_request_context(
        &self,
        remote_parent: Option<TraceContext>,
        sampler: Option<Sampler>,
    ) -> TraceContext {
        let sampler = sampler.unwrap_or(self.inner.sampler);
        let ctx = match remote_parent {
            Some(p) => p.child(),
            None => TraceContext::new_root(true),
        };
        ctx.with_sampled(sampler.sample(ctx.trace_id()))
    }

    /// Registers the renderer of the Prometheus exposition served at `/_spyglass/metrics`.
    pub fn set_metrics_renderer(&self, r: MetricsRenderer) {
        *self.inner.metrics.write() = Some(r);
    }

    /// The Prometheus text exposition, when a Prometheus exporter is installed.
    pub fn render_metrics(&self) -> Option<String> {
        let r = self.inner.metrics.read().clone();
        r.map(|f| f())
    }

    pub(crate) fn attach_pending_env_exporters(&self, f: config::EnvExporterFactory) {
        let Some(env) = self.inner.pending_env.lock().take() else {
            return;
        };
        match f(&env) {
            Ok(mut made) => {
                for e in made.iter_mut() {
                    if let Some(r) = e.metrics_renderer() {
                        self.set_metrics_renderer(r);
                    }
                }
                self.inner.collector_stats.add_exporters(made);
            }
            Err(e) => eprintln!("spyglass: {e}; continuing without it"),
        }
    }

    /// Waits until every event emitted before the call has been handed to the exporters and they have
    /// flushed, or `timeout` passes. Returns whether it completed.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.collector.flush(timeout)
    }

    /// Exports everything queued, shuts the exporters down and stops the collector. Events emitted
    /// afterwards still count in the stats store and are counted as dropped. Ends the dashboard's
    /// live streams as [`end_streams`](Self::end_streams) does.
    pub fn shutdown(&self) {
        self.end_streams();
        self.inner.collector.shutdown();
    }

    /// Ends the dashboard's live update streams (`/_spyglass/api/stream`) open now, within one of
    /// their update intervals; streams opened afterwards are served as usual.
    ///
    /// A live stream is a response that never finishes, so a server's graceful shutdown would wait
    /// for it as long as a dashboard stays open. Call this when the shutdown begins; recording
    /// goes on for the requests still in flight.
    ///
    /// ```
    /// // In the future handed to axum's `with_graceful_shutdown` (actix-web:
    /// // `HttpServer::shutdown_signal`), once the signal has come:
    /// spyglass_core::global().end_streams();
    /// // and after the server has stopped, export what the last requests recorded:
    /// spyglass_core::shutdown();
    /// ```
    pub fn end_streams(&self) {
        self.inner
            .streams_epoch
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// How many times [`end_streams`](Self::end_streams) was called: a stream opened when it read
    /// `n` ends once it reads more.
    pub fn streams_epoch(&self) -> u64 {
        self.inner
            .streams_epoch
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Builder {
    /// Creates a private instance (not the global one).
    pub fn build(mut self) -> Result<Spyglass, ConfigError> {
        self.validate()?;
        let service_name: Arc<str> = self
            .service_name
            .take()
            .unwrap_or_else(config::default_service_name)
            .into();
        let collector_stats = Arc::new(CollectorStats::new(self.queue_size, self.batch_max));
        let resource = Resource {
            service_name: service_name.clone(),
            service_version: self.service_version.take().map(Into::into),
            collector: Some(collector_stats.clone()),
        };
        let recent = Arc::new(Recent::new(self.n_plus_one as u64));
        let stats = Arc::new(StatsStore::new(
            &self.stats,
            service_name,
            collector_stats.clone(),
            recent.clone(),
        ));
        clock::warm_up();
        let mut exporters = std::mem::take(&mut self.exporters);
        let metrics: RwLock<Option<MetricsRenderer>> = RwLock::new(None);
        for e in exporters.iter_mut() {
            if let Some(r) = e.metrics_renderer() {
                *metrics.write() = Some(r);
            }
        }
        let collector = Collector::start(
            collector_stats.clone(),
            CollectorConfig {
                batch_max: self.batch_max,
                flush_interval: self.flush_interval,
            },
            exporters,
            resource.clone(),
            recent.clone(),
            stats.clone(),
        )?;
        Ok(Spyglass {
            inner: Arc::new(Inner {
                enabled: self.enabled,
                resource,
                sampler: Sampler::new(self.sample),
                stats,
                collector_stats,
                collector,
                recent,
                fingerprints: Fingerprints::new(4096),
                exclude_routes: self.exclude_routes,
                dashboard: self.dashboard,
                metrics,
                pending_env: parking_lot::Mutex::new(
                    self.env_exporters.any().then_some(self.env_exporters),
                ),
                streams_epoch: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Creates the instance and makes it the global one.
    ///
    /// Errors if a global instance exists already (installed before, or created by default on first
    /// use): call it once, at the start of `main`. The guard's drop flushes every queued event and
    /// stops the collector, as [`shutdown()`] does.
    pub fn install(self) -> Result<SpyglassGuard, ConfigError> {
        if GLOBAL.get().is_some() {
            return Err(ConfigError::AlreadyInstalled);
        }
        let sg = self.build()?;
        let mut fresh = Some(sg);
        let installed = GLOBAL.get_or_init(|| fresh.take().expect("set once"));
        match fresh {
            None => Ok(SpyglassGuard {
                _sg: installed.clone(),
            }),
            Some(unused) => {
                unused.shutdown();
                Err(ConfigError::AlreadyInstalled)
            }
        }
    }
}

/// Flushes and stops the global instance when dropped. Returned by [`Builder::install`].
#[must_use = "dropping the guard shuts Spyglass down: keep it alive for the life of the application"]
#[derive(Debug)]
pub struct SpyglassGuard {
    _sg: Spyglass,
}

impl Drop for SpyglassGuard {
    fn drop(&mut self) {
        shutdown();
    }
}

static GLOBAL: OnceLock<Spyglass> = OnceLock::new();

/// The global instance, created with defaults and the environment on first use if none was
/// installed.
///
/// A malformed environment variable is reported on stderr naming the variable, and that one
/// setting is left at its default; the others still apply. A malformed `SPYGLASS_DASHBOARD` turns
/// the dashboard off (it fails closed). Use [`Builder::from_env`] with [`Builder::install`] to make
/// any of these an error instead.
#[inline]
pub fn global() -> &'static Spyglass {
    GLOBAL.get_or_init(default_instance)
}

/// The global instance, if one exists already.
pub fn try_global() -> Option<&'static Spyglass> {
    GLOBAL.get()
}

#[cold]
fn default_instance() -> Spyglass {
    lenient_from_vars(|k| std::env::var(k).ok())
}

/// The default instance from the variables `get` reads: settings that parse apply, a malformed one
/// is reported and left at its default, and the dashboard stays off when its own variable is
/// malformed or the environment's exporters cannot start (`SPYGLASS_DASHBOARD=off` must never be
/// lost to another variable's typo).
fn lenient_from_vars(get: impl Fn(&str) -> Option<String>) -> Spyglass {
    let mut b = Builder::default().from_vars(get);
    let errors = std::mem::take(&mut b.errors);
    for e in &errors {
        eprintln!("spyglass: {e}; that setting is left at its default");
    }
    if errors
        .iter()
        .any(|e| matches!(e, ConfigError::Env { var, .. } if *var == "SPYGLASS_DASHBOARD"))
    {
        eprintln!("spyglass: the dashboard is off until SPYGLASS_DASHBOARD is 'on' or 'off'");
        b.dashboard.enabled = false;
    }
    let dashboard = b.dashboard.clone();
    let service_name = b.service_name.clone();
    match b.build() {
        Ok(sg) => sg,
        Err(e) => {
            eprintln!(
                "spyglass: {e}; starting without the environment's exporters and settings \
                 (the dashboard's settings kept)"
            );
            Builder {
                dashboard,
                service_name,
                ..Builder::default()
            }
            .build()
            .unwrap_or_else(|e| panic!("spyglass: cannot start the collector: {e}"))
        }
    }
}

/// The global instance's emitter.
#[inline]
pub fn emitter() -> Emitter<'static> {
    global().emitter()
}

/// The global instance's stats store.
pub fn stats() -> &'static StatsStore {
    global().stats()
}

/// Flushes and stops the global instance: after it returns, every event emitted before it has been
/// handed to the exporters. Does nothing if no global instance exists.
pub fn shutdown() {
    if let Some(sg) = GLOBAL.get() {
        sg.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::lenient_from_vars;
    use crate::config::tests::vars;

    #[test]
    fn another_variables_typo_keeps_the_dashboard_off() {
        let sg = lenient_from_vars(vars(&[
            ("SPYGLASS_DASHBOARD", "off"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("SPYGLASS_SAMPLE", "2"),
        ]));
        assert!(!sg.dashboard().enabled);
        sg.shutdown();
    }

    #[test]
    fn a_malformed_dashboard_variable_turns_the_dashboard_off() {
        let sg = lenient_from_vars(vars(&[("SPYGLASS_DASHBOARD", "no")]));
        assert!(!sg.dashboard().enabled);
        sg.shutdown();
    }

    #[test]
    fn the_settings_that_parse_still_apply() {
        let sg = lenient_from_vars(vars(&[
            ("SPYGLASS_DASHBOARD_TOKEN", "s3cret"),
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ]));
        assert!(sg.dashboard().enabled);
        assert_eq!(sg.dashboard().token.as_deref(), Some("s3cret"));
        assert_eq!(&*sg.resource().service_name, "checkout");
        sg.shutdown();
        let sg = lenient_from_vars(vars(&[]));
        assert!(sg.dashboard().enabled);
        assert_eq!(sg.dashboard().token, None);
        sg.shutdown();
    }
}

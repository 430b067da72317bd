//! Configuration: the [`Builder`], environment variables and their errors.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `OTEL_SERVICE_NAME` | service name |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | turns the OTLP exporter on, with this endpoint |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` | `grpc` or `http/protobuf` |
//! | `SPYGLASS_SAMPLE` | share of traces exported, `0..=1` |
//! | `SPYGLASS_JSONL_DIR` | turns the JSONL exporter on, writing into this directory |
//! | `SPYGLASS_CONSOLE` | turns the console exporter on: `pretty` or `compact` |
//! | `SPYGLASS_PROMETHEUS` | `1` turns the Prometheus exporter on (`0` leaves it off) |
//! | `SPYGLASS_DASHBOARD` | `off` disables the dashboard (`on` is the default) |
//! | `SPYGLASS_DASHBOARD_TOKEN` | token non-loopback peers must present to open the dashboard |
//!
//! A malformed value is an error naming the variable and what it accepts.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use spyglass_core::Spyglass;
//!
//! let sg = Spyglass::builder()
//!     .service_name("shop")
//!     .queue_size(2048)
//!     .batch_max(128)
//!     .flush_interval(Duration::from_millis(100))
//!     .sample(0.1)
//!     .exclude_routes(["/health"])
//!     .build()
//!     .unwrap();
//! assert_eq!(sg.service_name(), "shop");
//! ```

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::export::Exporter;
use crate::stats::StatsConfig;

/// What went wrong configuring or installing Spyglass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that is not accepted.
    #[error("{var} must be {expected}, got '{value}'")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it accepts.
        expected: &'static str,
    },
    /// A builder setting is out of range.
    #[error("{setting} {problem}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A global instance exists already (installed, or created by default on first use).
    #[error(
        "a global Spyglass instance already exists: call install() once, before the first request or \
         event (the default instance is created on first use)"
    )]
    AlreadyInstalled,
    /// An exporter could not be created.
    #[error("exporter '{name}': {message}")]
    Exporter {
        /// The exporter.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// The collector thread could not be started.
    #[error("could not start the collector thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Console exporter style requested by `SPYGLASS_CONSOLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleStyle {
    /// Aligned, coloured, human units.
    Pretty,
    /// One short line per event.
    Compact,
}

/// OTLP transport requested by `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC (default port 4317).
    Grpc,
    /// HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
}

/// Exporters requested through environment variables; turned into exporters by the factory that
/// `spyglass-exporters` registers with [`register_env_exporters`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EnvExporters {
    /// `SPYGLASS_JSONL_DIR`.
    pub jsonl_dir: Option<PathBuf>,
    /// `SPYGLASS_CONSOLE`.
    pub console: Option<ConsoleStyle>,
    /// `SPYGLASS_PROMETHEUS=1`.
    pub prometheus: bool,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub otlp_protocol: Option<OtlpProtocol>,
}

impl EnvExporters {
    /// Whether any exporter was requested.
    pub fn any(&self) -> bool {
        self.jsonl_dir.is_some()
            || self.console.is_some()
            || self.prometheus
            || self.otlp_endpoint.is_some()
    }
}

/// Builds exporters from [`EnvExporters`].
pub type EnvExporterFactory = fn(&EnvExporters) -> Result<Vec<Box<dyn Exporter>>, ConfigError>;

static ENV_FACTORY: OnceLock<EnvExporterFactory> = OnceLock::new();

/// Registers the function that turns exporter variables into exporters; the first registration wins.
///
/// `spyglass-exporters` does this, and the facade and the middlewares call it before they touch the
/// global instance. If the global instance was built from the environment before any registration,
/// the exporters it asked for are created now and handed to its running collector.
pub fn register_env_exporters(f: EnvExporterFactory) {
    if ENV_FACTORY.set(f).is_err() {
        return;
    }
    if let Some(sg) = crate::try_global() {
        sg.attach_pending_env_exporters(f);
    }
}

/// Dashboard settings, read by the middlewares.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DashboardSettings {
    /// Whether `/_spyglass` is served (`SPYGLASS_DASHBOARD=off` turns it off).
    pub enabled: bool,
    /// Token non-loopback peers must present.
    pub token: Option<Arc<str>>,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            enabled: true,
            token: None,
        }
    }
}

/// Configures and creates a [`Spyglass`](crate::Spyglass) instance.
#[derive(Debug)]
pub struct Builder {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) queue_size: usize,
    pub(crate) batch_max: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) sample: f64,
    pub(crate) exclude_routes: Vec<String>,
    pub(crate) exporters: Vec<Box<dyn Exporter>>,
    pub(crate) stats: StatsConfig,
    pub(crate) dashboard: DashboardSettings,
    pub(crate) env_exporters: EnvExporters,
    pub(crate) enabled: bool,
    pub(crate) n_plus_one: usize,
    pub(crate) errors: Vec<ConfigError>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            service_name: None,
            service_version: None,
            queue_size: 2048,
            batch_max: 128,
            flush_interval: Duration::from_millis(100),
            sample: 1.0,
            exclude_routes: Vec::new(),
            exporters: Vec::new(),
            stats: StatsConfig::default(),
            dashboard: DashboardSettings::default(),
            env_exporters: EnvExporters::default(),
            enabled: true,
            n_plus_one: 5,
            errors: Vec::new(),
        }
    }
}

impl Builder {
    /// `service.name`; default `OTEL_SERVICE_NAME`, else `unknown_service:<executable>`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version`, shown in the build-info metric and resource attributes.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Capacity of the event queue (default 2048). When full, the oldest event is dropped.
    pub fn queue_size(mut self, n: usize) -> Self {
        self.queue_size = n;
        self
    }

    /// Largest batch handed to the exporters (default 128).
    pub fn batch_max(mut self, n: usize) -> Self {
        self.batch_max = n;
        self
    }

    /// Longest time an event waits in the queue before a flush (default 100 ms).
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }

    /// Share of traces exported, `0..=1` (default 1). Stats count every event; errors are always
    /// exported.
    pub fn sample(mut self, rate: f64) -> Self {
        self.sample = rate;
        self
    }

    /// Route templates (or prefixes ending in `*`) the middlewares do not record.
    pub fn exclude_routes<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude_routes
            .extend(routes.into_iter().map(Into::into));
        self
    }

    /// Adds an exporter.
    pub fn exporter(mut self, e: impl Exporter) -> Self {
        self.exporters.push(Box::new(e));
        self
    }

    /// Adds a boxed exporter.
    pub fn boxed_exporter(mut self, e: Box<dyn Exporter>) -> Self {
        self.exporters.push(e);
        self
    }

    /// Stats store settings (window, bucket width, key cap, slow-query threshold).
    pub fn stats(mut self, cfg: StatsConfig) -> Self {
        self.stats = cfg;
        self
    }

    /// Cap on distinct keys per kind (default 1000); past it new keys fold into `<other>`.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.stats.max_keys = n;
        self
    }

    /// Queries at least this slow are marked slow (default 100 ms).
    pub fn slow_query(mut self, d: Duration) -> Self {
        self.stats.slow_query = d;
        self
    }

    /// How many runs of the same statement within one request make an N+1 finding (default 5, at
    /// least 2).
    pub fn n_plus_one_threshold(mut self, n: usize) -> Self {
        self.n_plus_one = n;
        self
    }

    /// Serves the dashboard (default) or not.
    pub fn dashboard(mut self, enabled: bool) -> Self {
        self.dashboard.enabled = enabled;
        self
    }

    /// Token non-loopback peers must present to open the dashboard. An empty (or all-blank) token
    /// is a configuration error at [`build`](Self::build): it would let every peer in.
    pub fn dashboard_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        if token.trim().is_empty() {
            self.errors.push(ConfigError::Invalid {
                setting: "dashboard_token",
                problem: "must not be empty: an empty token would let every peer in".into(),
            });
        } else {
            self.dashboard.token = Some(token.into());
        }
        self
    }

    /// Turns recording on (default) or off. When off, every emit is a relaxed load and a branch.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// The exporters requested by environment variables (after [`from_env`](Self::from_env)).
    pub fn env_exporters(&self) -> &EnvExporters {
        &self.env_exporters
    }

    /// Reads the environment variables listed in the [module docs](self). Malformed values are
    /// reported by [`build`](Self::build) / [`install`](crate::Builder::install).
    pub fn from_env(self) -> Self {
        self.from_vars(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `get` (for tests).
    pub fn from_vars(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(v) = get("OTEL_SERVICE_NAME").filter(|v| !v.trim().is_empty()) {
            self.service_name = Some(v.trim().to_string());
        }
        if let Some(v) = get("SPYGLASS_SAMPLE") {
            match v.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => self.sample = r,
                _ => self.errors.push(ConfigError::Env {
                    var: "SPYGLASS_SAMPLE",
                    value: v,
                    expected: "a number in 0..=1",
                }),
            }
        }
        if let Some(v) = get("SPYGLASS_JSONL_DIR") {
            if v.trim().is_empty() {
                self.errors.push(ConfigError::Env {
                    var: "SPYGLASS_JSONL_DIR",
                    value: v,
                    expected: "a directory path",
                });
            } else {
                self.env_exporters.jsonl_dir = Some(PathBuf::from(v));
            }
        }
        if let Some(v) = get("SPYGLASS_CONSOLE") {
            match v.trim().to_ascii_lowercase().as_str() {
                "pretty" => self.env_exporters.console = Some(ConsoleStyle::Pretty),
                "compact" => self.env_exporters.console = Some(ConsoleStyle::Compact),
                _ => self.errors.push(ConfigError::Env {
                    var: "SPYGLASS_CONSOLE",
                    value: v,
                    expected: "'pretty' or 'compact'",
                }),
            }
        }
        if let Some(v) = get("SPYGLASS_PROMETHEUS") {
            match v.trim() {
                "1" | "true" | "on" => self.env_exporters.prometheus = true,
                "0" | "false" | "off" | "" => self.env_exporters.prometheus = false,
                _ => self.errors.push(ConfigError::Env {
                    var: "SPYGLASS_PROMETHEUS",
                    value: v,
                    expected: "'1' (on) or '0' (off)",
                }),
            }
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let t = v.trim();
            if t.starts_with("http://") || t.starts_with("https://") {
                self.env_exporters.otlp_endpoint = Some(t.to_string());
            } else {
                self.errors.push(ConfigError::Env {
                    var: "OTEL_EXPORTER_OTLP_ENDPOINT",
                    value: v,
                    expected: "an http:// or https:// URL",
                });
            }
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            match v.trim() {
                "grpc" => self.env_exporters.otlp_protocol = Some(OtlpProtocol::Grpc),
                "http/protobuf" => {
                    self.env_exporters.otlp_protocol = Some(OtlpProtocol::HttpProtobuf)
                }
                _ => self.errors.push(ConfigError::Env {
                    var: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    value: v,
                    expected: "'grpc' or 'http/protobuf'",
                }),
            }
        }
        if let Some(v) = get("SPYGLASS_DASHBOARD") {
            match v.trim().to_ascii_lowercase().as_str() {
                "off" | "0" | "false" => self.dashboard.enabled = false,
                "on" | "1" | "true" | "" => self.dashboard.enabled = true,
                _ => self.errors.push(ConfigError::Env {
                    var: "SPYGLASS_DASHBOARD",
                    value: v,
                    expected: "'off' or 'on'",
                }),
            }
        }
        if let Some(v) = get("SPYGLASS_DASHBOARD_TOKEN") {
            if v.trim().is_empty() {
                self.errors.push(ConfigError::Env {
                    var: "SPYGLASS_DASHBOARD_TOKEN",
                    value: v,
                    expected: "a non-empty token",
                });
            } else {
                self.dashboard.token = Some(v.trim().into());
            }
        }
        self
    }

    pub(crate) fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        if self.queue_size == 0 {
            return Err(ConfigError::Invalid {
                setting: "queue_size",
                problem: "must be at least 1".into(),
            });
        }
        if self.batch_max == 0 {
            return Err(ConfigError::Invalid {
                setting: "batch_max",
                problem: "must be at least 1".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.sample) {
            return Err(ConfigError::Invalid {
                setting: "sample",
                problem: format!("must be in 0..=1, got {}", self.sample),
            });
        }
        if self.n_plus_one < 2 {
            return Err(ConfigError::Invalid {
                setting: "n_plus_one_threshold",
                problem: format!("must be at least 2, got {}", self.n_plus_one),
            });
        }
        if self.flush_interval.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "flush_interval",
                problem: "must be longer than zero".into(),
            });
        }
        if self.env_exporters.any() {
            if let Some(f) = ENV_FACTORY.get() {
                let made = f(&self.env_exporters)?;
                self.exporters.extend(made);
                self.env_exporters = EnvExporters::default();
            }
            // Otherwise the request stays pending until `register_env_exporters` runs.
        }
        Ok(())
    }
}

pub(crate) fn default_service_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    match exe {
        Some(e) => format!("unknown_service:{e}"),
        None => "unknown_service".into(),
    }
}

/// Whether any of `patterns` matches `route`: a pattern is an exact route template, or a prefix
/// ending in `*` (`/internal/*`). How `exclude_routes` and the middlewares' own exclusions are read.
///
/// ```
/// use spyglass_core::config::route_matches;
///
/// let patterns = ["/health".to_string(), "/internal/*".to_string()];
/// assert!(route_matches(&patterns, "/health"));
/// assert!(route_matches(&patterns, "/internal/{x}"));
/// assert!(!route_matches(&patterns, "/healthz"));
/// ```
pub fn route_matches(patterns: &[String], route: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => route.starts_with(prefix),
        None => p == route,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn an_empty_dashboard_token_is_refused() {
        for t in ["", "  "] {
            let e = crate::Spyglass::builder()
                .dashboard_token(t)
                .build()
                .unwrap_err();
            assert!(e.to_string().contains("dashboard_token"), "{e}");
        }
        let sg = crate::Spyglass::builder()
            .dashboard_token("s3cret")
            .build()
            .unwrap();
        assert_eq!(sg.dashboard().token.as_deref(), Some("s3cret"));
    }

    /// Environment variables for `Builder::from_vars`.
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn malformed_env_values_name_the_variable() {
        for (var, val) in [
            ("SPYGLASS_SAMPLE", "abc"),
            ("SPYGLASS_SAMPLE", "1.5"),
            ("SPYGLASS_CONSOLE", "loud"),
            ("SPYGLASS_PROMETHEUS", "yes please"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
            ("SPYGLASS_DASHBOARD", "maybe"),
            ("SPYGLASS_DASHBOARD_TOKEN", " "),
            ("SPYGLASS_JSONL_DIR", ""),
        ] {
            let err = Builder::default()
                .from_vars(vars(&[(var, val)]))
                .build()
                .unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(var), "{msg}");
            assert!(msg.contains(val.trim()) || val.trim().is_empty(), "{msg}");
        }
        let msg = Builder::default()
            .from_vars(vars(&[("SPYGLASS_SAMPLE", "abc")]))
            .build()
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "SPYGLASS_SAMPLE must be a number in 0..=1, got 'abc'");
    }

    #[test]
    fn good_env_values_apply() {
        let b = Builder::default().from_vars(vars(&[
            ("OTEL_SERVICE_NAME", "shop"),
            ("SPYGLASS_SAMPLE", "0.25"),
            ("SPYGLASS_DASHBOARD", "off"),
            ("SPYGLASS_DASHBOARD_TOKEN", "s3cret"),
        ]));
        assert_eq!(b.sample, 0.25);
        assert_eq!(b.service_name.as_deref(), Some("shop"));
        assert!(!b.dashboard.enabled);
        assert_eq!(b.dashboard.token.as_deref(), Some("s3cret"));
        let sg = b.build().unwrap();
        assert_eq!(sg.service_name(), "shop");
    }

    #[test]
    fn builder_ranges_are_checked() {
        assert!(Builder::default().queue_size(0).build().is_err());
        assert!(Builder::default().batch_max(0).build().is_err());
        assert!(Builder::default().sample(2.0).build().is_err());
        assert!(Builder::default()
            .flush_interval(Duration::ZERO)
            .build()
            .is_err());
    }
}

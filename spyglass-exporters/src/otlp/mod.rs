//! OTLP exporter: spans and metrics to any OpenTelemetry backend (an OpenTelemetry Collector,
//! Jaeger, Tempo, Honeycomb, …) over gRPC or HTTP/protobuf.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use spyglass_exporters::OtlpExporter;
//!
//! let _guard = spyglass_core::Spyglass::builder()
//!     .service_name("shop")
//!     .exporter(
//!         OtlpExporter::grpc("http://127.0.0.1:4317")
//!             .header("x-api-key", "secret")
//!             .timeout(Duration::from_secs(5))
//!             .max_retries(3),
//!     )
//!     .install()
//!     .unwrap();
//! ```
//!
//! With no code, `OTEL_EXPORTER_OTLP_ENDPOINT` (and optionally `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_COMPRESSION`,
//! `OTEL_METRIC_EXPORT_INTERVAL` and the [TLS](#tls) variables) turns the exporter on: see
//! [`OtlpExporter::from_env`].
//!
//! # What is sent
//!
//! Every *sampled* event becomes a span with Spyglass's own trace, span and parent ids, so a request
//! that arrived with a `traceparent` continues its caller's trace:
//!
//! | event | span kind | name | attributes |
//! | --- | --- | --- | --- |
//! | request | `SERVER` | `GET /users/{id}` | `http.request.method`, `http.route`, `http.response.status_code`, `http.request.body.size`, `http.response.body.size`, `error.type` |
//! | function | `INTERNAL` | `load_user` | `code.function.name` (`module::name`), `code.namespace` |
//! | query | `CLIENT` | `SELECT users` | `db.system.name`, `db.query.text` (redacted), `db.query.summary`, `db.operation.name`, `db.response.returned_rows` |
//!
//! Failures (5xx or panicking requests, `Err` results, failed queries) get an error status with
//! the error text. *Every* event, sampled or not, feeds the metrics: `http.server.request.duration`,
//! `function.calls`, `function.calls.duration`, `db.client.operation.duration` (seconds,
//! cumulative), plus `spyglass.otlp.spans.exported` / `spyglass.otlp.spans.dropped`.
//!
//! # A collector that is down, slow or refusing
//!
//! The exporter runs on Spyglass's collector thread and hands span batches to its own small Tokio
//! runtime (one worker thread, `spyglass-otlp`) through a queue of at most
//! [`max_queued_batches`](OtlpExporter::max_queued_batches) batches. Each request is retried with
//! exponential backoff at most [`max_retries`](OtlpExporter::max_retries) times, each attempt bounded
//! by the [`timeout`](OtlpExporter::timeout); then its spans are dropped and counted (see
//! [`OtlpExporter::stats`], and `collector.export_errors` in the stats snapshot). When the queue is
//! full, new batches are dropped and counted at once. Nothing waits on the application's threads,
//! memory stays bounded, and export resumes by itself when the collector is back. Metrics are
//! cumulative, so an export that fails is made good by the next one.
//!
//! No OpenTelemetry, tonic or rustls type appears in this API: upgrading them never breaks
//! Spyglass users.
//!
//! # TLS
//!
//! An `https://` endpoint is reached over TLS (rustls with the *ring* provider: no OpenSSL), for
//! gRPC and HTTP/protobuf alike; `http://` stays plaintext. The server is verified against the
//! system's trusted roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured; Mozilla's roots when the
//! system has none), or, when a CA is configured, against that CA *instead*, as the other
//! OpenTelemetry SDKs do. A client certificate and key are presented to servers that ask for one
//! (mutual TLS):
//!
//! ```no_run
//! # fn main() -> Result<(), spyglass_core::ConfigError> {
//! use spyglass_exporters::OtlpExporter;
//!
//! let exporter = OtlpExporter::grpc("https://collector.internal:4317")
//!     .ca_certificate_file("/etc/otel/ca.pem")?
//!     .client_identity_files("/etc/otel/client.pem", "/etc/otel/client.key")?;
//! # Ok(()) }
//! ```
//!
//! The same from the environment, as OpenTelemetry specifies (each a path to a PEM file):
//!
//! | variable | what |
//! | --- | --- |
//! | `OTEL_EXPORTER_OTLP_CERTIFICATE` | CA bundle trusted instead of the system roots |
//! | `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` | client certificate chain (mutual TLS) |
//! | `OTEL_EXPORTER_OTLP_CLIENT_KEY` | its private key (PKCS#8, PKCS#1 or SEC1) |
//! | `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, `…_TRACES_CLIENT_CERTIFICATE`, `…_TRACES_CLIENT_KEY` | the same for spans only |
//! | `OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE`, `…_METRICS_CLIENT_CERTIFICATE`, `…_METRICS_CLIENT_KEY` | the same for metrics only |
//!
//! Files are read and checked when the exporter is configured: a missing, unreadable or malformed
//! file is an error naming the variable (or setter) and the path. A server whose certificate does
//! not verify fails the export like an unreachable one: retried, then dropped and counted.

mod convert;
mod metrics;
mod tls;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{
    Compression, Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use spyglass_core::config::{EnvExporters, OtlpProtocol};
use spyglass_core::export::{Batch, ExportError, Exporter, Resource};
use spyglass_core::ConfigError;
use tokio::sync::mpsc;

use convert::AttrCache;
use metrics::{Instruments, OnRuntime};

const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// The TLS variables, general then per signal: (CA bundle, client certificate, client key).
const TLS_VARS: [(&str, &str, &str); 3] = [
    (
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    ),
];

fn is_https(url: &str) -> bool {
    url.trim()
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}
const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";

/// Exports Spyglass events as OTLP spans and metrics. See the [module docs](self).
///
/// Built with [`grpc`](Self::grpc), [`http`](Self::http), [`new`](Self::new) or
/// [`from_env`](Self::from_env), configured with the chained setters, and handed to
/// `Spyglass::builder().exporter(…)`. The connection is made on the collector thread when the
/// instance starts.
pub struct OtlpExporter {
    config: Config,
    counters: Arc<Counters>,
    running: Option<Running>,
    reported_drops: u64,
}

#[derive(Debug, Clone)]
struct Config {
    endpoint: Option<String>,
    protocol: OtlpProtocol,
    headers: Vec<(String, String)>,
    service_name: Option<String>,
    timeout: Duration,
    max_retries: usize,
    retry_delay: Duration,
    max_queued_batches: usize,
    max_spans_per_request: usize,
    flush_timeout: Duration,
    metrics_interval: Duration,
    traces: bool,
    metrics: bool,
    gzip: bool,
    tls_traces: tls::Tls,
    tls_metrics: tls::Tls,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            headers: Vec::new(),
            service_name: None,
            timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_delay: Duration::from_millis(100),
            max_queued_batches: 64,
            max_spans_per_request: 512,
            flush_timeout: Duration::from_secs(5),
            metrics_interval: Duration::from_secs(10),
            traces: true,
            metrics: true,
            gzip: false,
            tls_traces: tls::Tls::default(),
            tls_metrics: tls::Tls::default(),
        }
    }
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: print their names only.
        let headers: Vec<&str> = self
            .config
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.endpoint_url())
            .field("protocol", &self.config.protocol)
            .field("headers", &headers)
            .field("timeout", &self.config.timeout)
            .field("max_retries", &self.config.max_retries)
            .field("max_queued_batches", &self.config.max_queued_batches)
            .field("tls_traces", &self.config.tls_traces)
            .field("tls_metrics", &self.config.tls_metrics)
            .field("running", &self.running.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for OtlpExporter {
    fn default() -> Self {
        Self::new()
    }
}

/// Finishes a span or metric exporter builder for the configured transport: the two builders are
/// distinct types with the same methods, so one macro serves both. `https://` endpoints get the
/// signal's TLS settings `$tls`.
macro_rules! transport {
    ($this:expr, $builder:expr, $signal_path:literal, $tls:expr) => {
        match $this.config.protocol {
            OtlpProtocol::Grpc => {
                let b = $builder
                    .with_tonic()
                    .with_endpoint($this.endpoint_url())
                    .with_timeout($this.config.timeout)
                    .with_metadata($this.metadata()?)
                    .with_retry_policy($this.retry_policy());
                let b = match is_https($this.endpoint_url()) {
                    true => b.with_tls_config($tls.grpc()),
                    false => b,
                };
                match $this.config.gzip {
                    true => b.with_compression(Compression::Gzip),
                    false => b,
                }
                .build()
            }
            OtlpProtocol::HttpProtobuf => {
                let b = $builder
                    .with_http()
                    .with_endpoint($this.signal_url($signal_path))
                    .with_protocol(Protocol::HttpBinary)
                    .with_timeout($this.config.timeout)
                    .with_headers($this.header_map())
                    .with_retry_policy($this.retry_policy());
                // reqwest's rustls backend would bring aws-lc-rs (a C build) or, without a
                // provider, panic in every other reqwest client of the process: TLS goes through
                // hyper-rustls with our config instead; plain HTTP stays on reqwest.
                let b = match is_https($this.endpoint_url()) {
                    true => b.with_http_client($tls.http_client($this.config.timeout)?),
                    false => b,
                };
                match $this.config.gzip {
                    true => b.with_compression(Compression::Gzip),
                    false => b,
                }
                .build()
            }
        }
    };
}

impl OtlpExporter {
    /// An exporter with the OpenTelemetry defaults: HTTP/protobuf to `http://localhost:4318`.
    pub fn new() -> Self {
        OtlpExporter {
            config: Config::default(),
            counters: Arc::new(Counters::default()),
            running: None,
            reported_drops: 0,
        }
    }

    /// gRPC to `endpoint` (e.g. `http://127.0.0.1:4317`).
    pub fn grpc(endpoint: impl Into<String>) -> Self {
        Self::new().protocol(OtlpProtocol::Grpc).endpoint(endpoint)
    }

    /// HTTP/protobuf to `endpoint`, the base URL (e.g. `http://127.0.0.1:4318`): spans go to
    /// `{endpoint}/v1/traces`, metrics to `{endpoint}/v1/metrics`.
    pub fn http(endpoint: impl Into<String>) -> Self {
        Self::new()
            .protocol(OtlpProtocol::HttpProtobuf)
            .endpoint(endpoint)
    }

    /// The exporter the environment asks for, as parsed by `Spyglass::builder().from_env()`:
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_PROTOCOL` (default `http/protobuf`, as
    /// OpenTelemetry specifies), plus from the process environment `OTEL_EXPORTER_OTLP_HEADERS`
    /// (`key=value,…`, URL-encoded values), `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds),
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip` | `none`), `OTEL_METRIC_EXPORT_INTERVAL`
    /// (milliseconds) and the [TLS](self#tls) variables `OTEL_EXPORTER_OTLP_CERTIFICATE`,
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY` (and their
    /// `…_TRACES_…` / `…_METRICS_…` forms). A malformed value, or a certificate file that is
    /// missing, unreadable or malformed, is an error naming the variable.
    pub fn from_env(env: &EnvExporters) -> Result<OtlpExporter, ConfigError> {
        Self::from_vars(env, |k| std::env::var(k).ok())
    }

    fn from_vars(
        env: &EnvExporters,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<OtlpExporter, ConfigError> {
        let mut e = OtlpExporter::new();
        if let Some(p) = env.otlp_protocol {
            e = e.protocol(p);
        }
        if let Some(url) = &env.otlp_endpoint {
            e = e.endpoint(url.clone());
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            e.config.headers = parse_headers(&v).ok_or(ConfigError::Env {
                var: "OTEL_EXPORTER_OTLP_HEADERS",
                value: v.clone(),
                expected: "a list of key=value pairs separated by commas",
            })?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_TIMEOUT") {
            e.config.timeout = parse_millis(&v).ok_or(ConfigError::Env {
                var: "OTEL_EXPORTER_OTLP_TIMEOUT",
                value: v.clone(),
                expected: "a positive number of milliseconds",
            })?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_COMPRESSION") {
            e.config.gzip = match v.trim().to_ascii_lowercase().as_str() {
                "gzip" => true,
                "none" | "" => false,
                _ => {
                    return Err(ConfigError::Env {
                        var: "OTEL_EXPORTER_OTLP_COMPRESSION",
                        value: v,
                        expected: "'gzip' or 'none'",
                    })
                }
            };
        }
        if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            e.config.metrics_interval = parse_millis(&v).ok_or(ConfigError::Env {
                var: "OTEL_METRIC_EXPORT_INTERVAL",
                value: v.clone(),
                expected: "a positive number of milliseconds",
            })?;
        }
        let [all, traces, metrics] = TLS_VARS;
        let mut shared = tls::Tls::default();
        tls_from_vars(&mut shared, all, &get)?;
        e.config.tls_traces = shared.clone();
        tls_from_vars(&mut e.config.tls_traces, traces, &get)?;
        e.config.tls_metrics = shared;
        tls_from_vars(&mut e.config.tls_metrics, metrics, &get)?;
        Ok(e)
    }

    /// The collector's URL: for gRPC the server (`http://host:4317`), for HTTP the base URL to
    /// which `/v1/traces` and `/v1/metrics` are appended.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.config.endpoint = (!url.trim().is_empty()).then(|| url.trim().to_string());
        self
    }

    /// gRPC or HTTP/protobuf.
    pub fn protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// Adds a header (gRPC metadata) sent with every request, e.g. an API key.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config
            .headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// `service.name` of the exported resource; default: the Spyglass instance's service name
    /// (`OTEL_SERVICE_NAME` or the builder's).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.config.service_name = Some(name.into());
        self
    }

    /// Longest wait for one request to the collector (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Retries of a failed request before its spans are dropped (default 3), with exponential
    /// backoff starting at [`retry_delay`](Self::retry_delay). Requests the collector rejects as
    /// malformed are not retried; `Retry-After` / throttling hints are honoured.
    pub fn max_retries(mut self, n: usize) -> Self {
        self.config.max_retries = n;
        self
    }

    /// First backoff delay (default 100 ms; doubles up to 16×).
    pub fn retry_delay(mut self, d: Duration) -> Self {
        self.config.retry_delay = d;
        self
    }

    /// Span batches waiting to be sent (default 64); when full, new batches are dropped and counted.
    pub fn max_queued_batches(mut self, n: usize) -> Self {
        self.config.max_queued_batches = n.max(1);
        self
    }

    /// Most spans merged into one request when batches are waiting (default 512).
    pub fn max_spans_per_request(mut self, n: usize) -> Self {
        self.config.max_spans_per_request = n.max(1);
        self
    }

    /// Longest time a flush (and so shutdown) waits for queued spans to be sent (default 5 s).
    pub fn flush_timeout(mut self, d: Duration) -> Self {
        self.config.flush_timeout = d;
        self
    }

    /// How often metrics are exported (default 10 s); a flush also exports them.
    pub fn metrics_interval(mut self, d: Duration) -> Self {
        self.config.metrics_interval = d.max(Duration::from_millis(1));
        self
    }

    /// Compresses request bodies with gzip (default off; `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    pub fn gzip(mut self, on: bool) -> Self {
        self.config.gzip = on;
        self
    }

    /// Trusts the CA certificates of a PEM bundle, instead of the system roots, to verify an
    /// `https://` endpoint (like `OTEL_EXPORTER_OTLP_CERTIFICATE`, for spans and metrics).
    ///
    /// An error if `pem` holds no certificate or one that is malformed.
    pub fn ca_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let ca = tls::parse_ca(pem.as_ref()).map_err(|problem| ConfigError::Invalid {
            setting: "ca_certificate_pem",
            problem,
        })?;
        self.config.tls_traces.set_ca(ca.clone());
        self.config.tls_metrics.set_ca(ca);
        Ok(self)
    }

    /// Like [`ca_certificate_pem`](Self::ca_certificate_pem), reading the bundle from a file now.
    ///
    /// An error naming the path if the file is missing, unreadable or malformed.
    pub fn ca_certificate_file(mut self, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let invalid = |problem| ConfigError::Invalid {
            setting: "ca_certificate_file",
            problem: format!("'{}': {problem}", path.display()),
        };
        let pem = tls::read(path).map_err(invalid)?;
        let ca = tls::parse_ca(&pem).map_err(invalid)?;
        self.config.tls_traces.set_ca(ca.clone());
        self.config.tls_metrics.set_ca(ca);
        Ok(self)
    }

    /// The client certificate chain and private key (PEM) presented to an `https://` endpoint that
    /// asks for one: mutual TLS (like `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
    /// `OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    ///
    /// An error if either is malformed or they do not form a usable identity.
    pub fn client_identity_pem(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, ConfigError> {
        let id = tls::parse_identity(cert_pem.as_ref(), key_pem.as_ref()).map_err(|problem| {
            ConfigError::Invalid {
                setting: "client_identity_pem",
                problem,
            }
        })?;
        self.config.tls_traces.set_identity(id.clone());
        self.config.tls_metrics.set_identity(id);
        Ok(self)
    }

    /// Like [`client_identity_pem`](Self::client_identity_pem), reading both files now.
    ///
    /// An error naming the path if a file is missing, unreadable or malformed.
    pub fn client_identity_files(
        mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let read = |path: &Path| {
            tls::read(path).map_err(|problem| ConfigError::Invalid {
                setting: "client_identity_files",
                problem: format!("'{}': {problem}", path.display()),
            })
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        let id =
            tls::parse_identity(&cert_pem, &key_pem).map_err(|problem| ConfigError::Invalid {
                setting: "client_identity_files",
                problem: format!("'{}', '{}': {problem}", cert.display(), key.display()),
            })?;
        self.config.tls_traces.set_identity(id.clone());
        self.config.tls_metrics.set_identity(id);
        Ok(self)
    }

    /// Exports spans (default on).
    pub fn traces(mut self, on: bool) -> Self {
        self.config.traces = on;
        self
    }

    /// Exports metrics (default on).
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// The effective endpoint.
    pub fn endpoint_url(&self) -> &str {
        self.config
            .endpoint
            .as_deref()
            .unwrap_or(match self.config.protocol {
                OtlpProtocol::Grpc => DEFAULT_GRPC_ENDPOINT,
                OtlpProtocol::HttpProtobuf => DEFAULT_HTTP_ENDPOINT,
            })
    }

    /// A live handle on this exporter's counters; keep it before handing the exporter to the
    /// builder.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(self.counters.clone())
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::recommended()
            .with_max_retries(self.config.max_retries)
            .with_initial_delay(self.config.retry_delay)
            .with_max_delay(self.config.retry_delay * 16)
    }

    fn signal_url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint_url().trim_end_matches('/'))
    }

    fn metadata(&self) -> Result<tonic::metadata::MetadataMap, String> {
        let mut md = tonic::metadata::MetadataMap::new();
        for (k, v) in &self.config.headers {
            let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name '{k}'"))?;
            let value = v
                .parse()
                .map_err(|_| format!("invalid value for header '{k}'"))?;
            md.append(key, value);
        }
        Ok(md)
    }

    fn header_map(&self) -> HashMap<String, String> {
        self.config.headers.iter().cloned().collect()
    }

    fn span_exporter(&self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        let b = opentelemetry_otlp::SpanExporter::builder();
        transport!(self, b, "/v1/traces", self.config.tls_traces).map_err(|e| e.to_string())
    }

    fn metric_exporter(&self) -> Result<opentelemetry_otlp::MetricExporter, String> {
        let b =
            opentelemetry_otlp::MetricExporter::builder().with_temporality(Temporality::Cumulative);
        transport!(self, b, "/v1/metrics", self.config.tls_metrics).map_err(|e| e.to_string())
    }

    fn start_inner(&mut self, resource: &Resource) -> Result<Running, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("spyglass-otlp")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the OTLP runtime: {e}"))?;
        // The gRPC channel spawns its connection task on the current runtime.
        let _entered = runtime.enter();
        let service: String = match &self.config.service_name {
            Some(s) => s.clone(),
            None => resource.service_name.to_string(),
        };
        let mut rb = opentelemetry_sdk::Resource::builder().with_service_name(service);
        if let Some(v) = &resource.service_version {
            rb = rb.with_attribute(KeyValue::new("service.version", v.to_string()));
        }
        let otel_resource = rb.build();
        let scope = InstrumentationScope::builder("spyglass")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();

        let progress = Arc::new(Progress::default());
        let tx = if self.config.traces {
            let mut exporter = self.span_exporter()?;
            exporter.set_resource(&otel_resource);
            let (tx, rx) = mpsc::channel(self.config.max_queued_batches);
            runtime.spawn(send_loop(
                exporter,
                rx,
                self.counters.clone(),
                progress.clone(),
                self.config.max_spans_per_request,
            ));
            Some(tx)
        } else {
            None
        };
        let (provider, instruments) = if self.config.metrics {
            let exporter = OnRuntime {
                inner: self.metric_exporter()?,
                handle: runtime.handle().clone(),
                counters: self.counters.clone(),
            };
            let reader = PeriodicReader::builder(exporter)
                .with_interval(self.config.metrics_interval)
                .build();
            let provider = SdkMeterProvider::builder()
                .with_reader(reader)
                .with_resource(otel_resource)
                .build();
            let meter = provider.meter_with_scope(scope.clone());
            let instruments = Instruments::new(&meter, &self.counters);
            (Some(provider), Some(instruments))
        } else {
            (None, None)
        };
        drop(_entered);
        Ok(Running {
            runtime: Some(runtime),
            tx,
            progress,
            provider,
            instruments,
            cache: AttrCache::default(),
            scope,
        })
    }

    /// Reports spans dropped since the last report, so the collector counts and logs them.
    fn report_drops(&mut self) -> Result<(), ExportError> {
        let dropped = self.counters.spans_dropped.load(Ordering::Relaxed);
        if dropped > self.reported_drops {
            let count = dropped - self.reported_drops;
            self.reported_drops = dropped;
            let reason = self
                .counters
                .last_error()
                .unwrap_or_else(|| "OTLP export failed".into());
            return Err(ExportError::Lost {
                count,
                reason: format!("OTLP spans dropped ({reason})"),
            });
        }
        Ok(())
    }
}

/// The exporter's live state, made on the collector thread by `start`.
struct Running {
    runtime: Option<tokio::runtime::Runtime>,
    tx: Option<mpsc::Sender<Vec<SpanData>>>,
    progress: Arc<Progress>,
    provider: Option<SdkMeterProvider>,
    instruments: Option<Instruments>,
    cache: AttrCache,
    scope: InstrumentationScope,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropped without `shutdown` (possibly inside an async context): never block there.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Running {
    fn wait_sent(&self, timeout: Duration) -> bool {
        self.progress.wait(timeout)
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn start(&mut self, resource: &Resource) -> Result<(), ExportError> {
        if self.running.is_some() {
            return Ok(());
        }
        let run = self.start_inner(resource).map_err(|e| {
            ExportError::Other(format!(
                "OTLP exporter to {} not started: {e}",
                self.endpoint_url()
            ))
        })?;
        self.running = Some(run);
        Ok(())
    }

    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let Some(run) = self.running.as_mut() else {
            let n = batch.sampled().count() as u64;
            self.counters.spans_dropped.fetch_add(n, Ordering::Relaxed);
            return self.report_drops();
        };
        if let Some(instruments) = &run.instruments {
            for ev in batch.events {
                instruments.record(ev, &mut run.cache);
            }
        }
        if let Some(tx) = &run.tx {
            if tx.capacity() == 0 {
                // The collector is not keeping up: drop without building spans, sparing the
                // collector thread when it is busiest.
                let n = batch.sampled().count() as u64;
                if n > 0 {
                    self.counters.spans_dropped.fetch_add(n, Ordering::Relaxed);
                    self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .set_last_error("send queue full: the collector is down or slow".into());
                }
                return self.report_drops();
            }
            let spans: Vec<SpanData> = batch
                .sampled()
                .map(|ev| convert::span(ev, &mut run.cache, &run.scope))
                .collect();
            if !spans.is_empty() {
                let n = spans.len() as u64;
                match tx.try_send(spans) {
                    Ok(()) => {
                        run.progress.queued.fetch_add(1, Ordering::Release);
                    }
                    Err(_) => {
                        self.counters.spans_dropped.fetch_add(n, Ordering::Relaxed);
                        self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                        self.counters.set_last_error(
                            "send queue full: the collector is down or slow".into(),
                        );
                    }
                }
            }
        }
        self.report_drops()
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        if let Some(run) = &self.running {
            let sent = run.wait_sent(self.config.flush_timeout);
            if let Some(p) = &run.provider {
                // Failures are counted by the metric exporter itself.
                let _ = p.force_flush();
            }
            if !sent {
                self.report_drops()?;
                return Err(ExportError::Other(format!(
                    "OTLP flush timed out after {:?}: spans are still queued for {}",
                    self.config.flush_timeout,
                    self.endpoint_url()
                )));
            }
        }
        self.report_drops()
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        let r = self.flush();
        if let Some(mut run) = self.running.take() {
            // Closing the queue ends the send loop once it is empty.
            drop(run.tx.take());
            if let Some(p) = run.provider.take() {
                let _ = p.shutdown();
            }
            if let Some(rt) = run.runtime.take() {
                rt.shutdown_timeout(Duration::from_secs(1));
            }
        }
        r
    }
}

async fn send_loop(
    exporter: opentelemetry_otlp::SpanExporter,
    mut rx: mpsc::Receiver<Vec<SpanData>>,
    counters: Arc<Counters>,
    progress: Arc<Progress>,
    max_per_request: usize,
) {
    while let Some(mut spans) = rx.recv().await {
        let mut batches = 1;
        while spans.len() < max_per_request {
            match rx.try_recv() {
                Ok(more) => {
                    spans.extend(more);
                    batches += 1;
                }
                Err(_) => break,
            }
        }
        let n = spans.len() as u64;
        // The OTLP client retries with backoff per its retry policy, each attempt bounded by the
        // timeout; what still fails is dropped here.
        match exporter.export(spans).await {
            Ok(()) => {
                counters.spans_exported.fetch_add(n, Ordering::Relaxed);
                counters.requests.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.spans_dropped.fetch_add(n, Ordering::Relaxed);
                counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                counters.set_last_error(e.to_string());
            }
        }
        progress.done(batches);
    }
}

/// Batches handed to the send loop and batches it has finished (sent or dropped).
#[derive(Debug, Default)]
struct Progress {
    queued: AtomicU64,
    done: Mutex<u64>,
    cv: Condvar,
}

impl Progress {
    fn done(&self, n: u64) {
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        *d += n;
        self.cv.notify_all();
    }

    /// Waits until every batch queued so far is finished, at most `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let target = self.queued.load(Ordering::Acquire);
        let deadline = Instant::now() + timeout;
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while *d < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            d = match self.cv.wait_timeout(d, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    spans_exported: AtomicU64,
    spans_dropped: AtomicU64,
    requests: AtomicU64,
    failed_requests: AtomicU64,
    queue_full: AtomicU64,
    metric_exports: AtomicU64,
    metric_export_failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn set_last_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Live counters of an [`OtlpExporter`], from [`OtlpExporter::stats`]. Cheap to clone.
#[derive(Clone)]
pub struct OtlpStats(Arc<Counters>);

impl OtlpStats {
    /// Spans the collector accepted.
    pub fn spans_exported(&self) -> u64 {
        self.0.spans_exported.load(Ordering::Relaxed)
    }

    /// Spans dropped: the collector was unreachable or refused them after every retry, or the
    /// send queue was full.
    pub fn spans_dropped(&self) -> u64 {
        self.0.spans_dropped.load(Ordering::Relaxed)
    }

    /// Span export requests that succeeded.
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Span export requests that failed after every retry (their spans are dropped).
    pub fn failed_requests(&self) -> u64 {
        self.0.failed_requests.load(Ordering::Relaxed)
    }

    /// Batches dropped at once because the send queue was full.
    pub fn queue_full_drops(&self) -> u64 {
        self.0.queue_full.load(Ordering::Relaxed)
    }

    /// Metric exports that succeeded.
    pub fn metric_exports(&self) -> u64 {
        self.0.metric_exports.load(Ordering::Relaxed)
    }

    /// Metric exports that failed (the next export carries the cumulative values again).
    pub fn metric_export_failures(&self) -> u64 {
        self.0.metric_export_failures.load(Ordering::Relaxed)
    }

    /// The last export error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.0.last_error()
    }
}

impl fmt::Debug for OtlpStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpStats")
            .field("spans_exported", &self.spans_exported())
            .field("spans_dropped", &self.spans_dropped())
            .field("requests", &self.requests())
            .field("failed_requests", &self.failed_requests())
            .field("queue_full_drops", &self.queue_full_drops())
            .field("metric_exports", &self.metric_exports())
            .field("metric_export_failures", &self.metric_export_failures())
            .finish()
    }
}

/// Applies one set of TLS variables (CA, client certificate, client key) to `tls`: each file is
/// read and checked now, an error naming the variable and the path.
fn tls_from_vars(
    tls: &mut tls::Tls,
    (ca_var, cert_var, key_var): (&str, &str, &str),
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let path = |var: &str| {
        get(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let error = |var: &str, path: &str, problem: String| ConfigError::Exporter {
        name: "otlp",
        message: format!("{var}='{path}': {problem}"),
    };
    let read = |var: &str, p: &str| tls::read(Path::new(p)).map_err(|e| error(var, p, e));
    if let Some(p) = path(ca_var) {
        let ca = tls::parse_ca(&read(ca_var, &p)?).map_err(|e| error(ca_var, &p, e))?;
        tls.set_ca(ca);
    }
    match (path(cert_var), path(key_var)) {
        (Some(cert), Some(key)) => {
            let id = tls::parse_identity(&read(cert_var, &cert)?, &read(key_var, &key)?)
                .map_err(|e| error(cert_var, &cert, format!("{e} (key: {key_var}='{key}')")))?;
            tls.set_identity(id);
        }
        (Some(p), None) | (None, Some(p)) => {
            let (set, unset) = match path(cert_var).is_some() {
                true => (cert_var, key_var),
                false => (key_var, cert_var),
            };
            return Err(error(
                set,
                &p,
                format!("{unset} must be set too (mutual TLS needs both)"),
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// Parses `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs separated by commas, values URL-encoded.
fn parse_headers(v: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = pair.split_once('=')?;
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        out.push((k.to_ascii_lowercase(), percent_decode(val.trim())?));
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_millis(v: &str) -> Option<Duration> {
    match v.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_configures_endpoint_protocol_headers_timeout() {
        let mut env = EnvExporters::default();
        env.otlp_endpoint = Some("http://collector:4317".into());
        env.otlp_protocol = Some(OtlpProtocol::Grpc);
        let e = OtlpExporter::from_vars(
            &env,
            vars(&[
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, X-Team=core"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ]),
        )
        .unwrap();
        assert_eq!(e.endpoint_url(), "http://collector:4317");
        assert_eq!(e.config.protocol, OtlpProtocol::Grpc);
        assert_eq!(
            e.config.headers,
            vec![
                ("api-key".to_string(), "a b".to_string()),
                ("x-team".to_string(), "core".to_string())
            ]
        );
        assert_eq!(e.config.timeout, Duration::from_millis(2500));
        assert!(e.metadata().is_ok());
        // Credentials never show in Debug output.
        assert!(!format!("{e:?}").contains("a b"));
    }

    #[test]
    fn defaults_follow_opentelemetry() {
        let e = OtlpExporter::from_vars(&EnvExporters::default(), vars(&[])).unwrap();
        assert_eq!(e.config.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(e.endpoint_url(), "http://localhost:4318");
        assert_eq!(
            e.signal_url("/v1/traces"),
            "http://localhost:4318/v1/traces"
        );
        let e = OtlpExporter::http("http://h:1/");
        assert_eq!(e.signal_url("/v1/metrics"), "http://h:1/v1/metrics");
        assert_eq!(
            OtlpExporter::grpc("http://h:2").endpoint_url(),
            "http://h:2"
        );
    }

    #[test]
    fn https_endpoints_start_over_both_protocols() {
        let mut env = EnvExporters::default();
        env.otlp_endpoint = Some("https://api.example.com".into());
        let e = OtlpExporter::from_vars(&env, vars(&[])).unwrap();
        assert_eq!(e.endpoint_url(), "https://api.example.com");
        let sg = spyglass_core::Spyglass::builder().build().unwrap();
        for mut e in [
            OtlpExporter::http("HTTPS://api.example.com"),
            OtlpExporter::grpc("https://api.example.com:4317"),
        ] {
            // Connections are made on first export: starting needs no network.
            e.start(sg.resource()).unwrap();
            assert!(e.running.is_some());
            drop(e);
        }
    }

    #[test]
    fn tls_variables_name_the_variable_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let junk = junk.to_str().unwrap().to_string();
        let missing = dir.path().join("missing.pem");
        let missing = missing.to_str().unwrap().to_string();
        for (var, path, problem) in [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &missing, "cannot read"),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                &junk,
                "no PEM CERTIFICATE",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &junk, "no PEM"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
                &missing,
                "cannot read",
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                &junk,
                "CLIENT_KEY must be set",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                &junk,
                "CLIENT_CERTIFICATE must be set",
            ),
        ] {
            let err = OtlpExporter::from_vars(&EnvExporters::default(), |k| {
                (k == var).then(|| path.clone())
            })
            .unwrap_err()
            .to_string();
            assert!(
                err.contains(var) && err.contains(path.as_str()) && err.contains(problem),
                "{err}"
            );
        }
        let err = OtlpExporter::from_vars(&EnvExporters::default(), |k| match k {
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" | "OTEL_EXPORTER_OTLP_CLIENT_KEY" => {
                Some(junk.clone())
            }
            _ => None,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
                && err.contains("client certificate"),
            "{err}"
        );

        let err = OtlpExporter::grpc("https://h:1")
            .ca_certificate_file(&missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ca_certificate_file") && err.contains(&missing),
            "{err}"
        );
        let err = OtlpExporter::http("https://h:1")
            .client_identity_files(&junk, &missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client_identity_files") && err.contains(&missing),
            "{err}"
        );
        let err = OtlpExporter::http("https://h:1")
            .ca_certificate_pem("junk")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ca_certificate_pem"), "{err}");
    }

    #[test]
    fn malformed_env_values_name_the_variable() {
        for (var, val) in [
            ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "k=%zz"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
        ] {
            let err = OtlpExporter::from_vars(&EnvExporters::default(), |k| {
                (k == var).then(|| val.to_string())
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains(var) && err.contains(val), "{err}");
        }
    }

    #[test]
    fn a_never_started_exporter_counts_drops() {
        let mut e = OtlpExporter::grpc("http://127.0.0.1:1");
        let stats = e.stats();
        let events = [spyglass_core::Event::function("f", "m", 1, false)];
        let sg = spyglass_core::Spyglass::builder().build().unwrap();
        let r = e.export(&Batch {
            events: &events,
            resource: sg.resource(),
        });
        assert!(matches!(r, Err(ExportError::Lost { count: 1, .. })));
        assert_eq!(stats.spans_dropped(), 1);
    }
}

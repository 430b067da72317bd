//! A real OTLP receiver on loopback for tests: a tonic gRPC server implementing `TraceService` and
//! `MetricsService` from `opentelemetry-proto`, or an axum HTTP endpoint decoding protobuf bodies with
//! prost. It keeps every request it decodes and lets tests wait (bounded) for what they expect.
//!
//! Shared by `spyglass-exporters/tests/otlp.rs` and `examples/two-services/tests/`; `tls.rs` beside
//! it serves the same receivers behind TLS (`spyglass-exporters/tests/otlp_tls.rs`).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// Which OTLP transport the receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

#[derive(Debug, Default)]
pub struct Data {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    /// The `x-api-key` header (gRPC metadata) of every request.
    pub api_keys: Vec<Option<String>>,
    /// Spans received, also when not kept.
    pub span_count: usize,
    /// Keep requests (default) or only count spans (benches).
    pub count_only: bool,
    /// Answer every request with "unavailable" (gRPC `UNAVAILABLE`, HTTP 503).
    pub refuse: bool,
    /// Requests refused so far.
    pub refused: usize,
    /// Requests that arrived gzip-compressed.
    pub gzipped: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Store(Arc<(Mutex<Data>, Condvar)>);

impl Store {
    fn update(&self, f: impl FnOnce(&mut Data)) {
        let (m, cv) = &*self.0;
        f(&mut m.lock().unwrap());
        cv.notify_all();
    }

    /// Counts the request as refused when refusing.
    fn refused(&self) -> bool {
        let mut refused = false;
        self.update(|d| {
            if d.refuse {
                d.refused += 1;
                refused = true;
            }
        });
        refused
    }

    fn gzipped(&self) {
        self.update(|d| d.gzipped += 1);
    }

    /// Starts or stops refusing requests.
    pub fn set_refuse(&self, on: bool) {
        self.update(|d| d.refuse = on);
    }

    fn add_traces(&self, key: Option<String>, req: ExportTraceServiceRequest) {
        self.update(|d| {
            d.span_count += req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
            if !d.count_only {
                d.api_keys.push(key);
                d.traces.push(req);
            }
        });
    }

    fn add_metrics(&self, key: Option<String>, req: ExportMetricsServiceRequest) {
        self.update(|d| {
            if !d.count_only {
                d.api_keys.push(key);
                d.metrics.push(req);
            }
        });
    }

    /// Waits until `f` returns `Some`, at most `timeout`.
    pub fn wait<T>(&self, timeout: Duration, f: impl Fn(&Data) -> Option<T>) -> Option<T> {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut d = m.lock().unwrap();
        loop {
            if let Some(t) = f(&d) {
                return Some(t);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            d = cv.wait_timeout(d, left).unwrap().0;
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&Data) -> T) -> T {
        f(&self.0 .0.lock().unwrap())
    }
}

/// A received span with its resource's `service.name`.
#[derive(Debug, Clone)]
pub struct RecvSpan {
    pub service: String,
    pub span: Span,
}

impl RecvSpan {
    pub fn trace_hex(&self) -> String {
        hex(&self.span.trace_id)
    }
    pub fn span_hex(&self) -> String {
        hex(&self.span.span_id)
    }
    pub fn parent_hex(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    pub fn attr(&self, key: &str) -> Option<any_value::Value> {
        attr(&self.span.attributes, key)
    }
    pub fn str_attr(&self, key: &str) -> Option<String> {
        match self.attr(key)? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        match self.attr(key)? {
            any_value::Value::IntValue(i) => Some(i),
            _ => None,
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn attr(kvs: &[KeyValue], key: &str) -> Option<any_value::Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

pub fn str_attr(kvs: &[KeyValue], key: &str) -> Option<String> {
    match attr(kvs, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

impl Data {
    pub fn spans(&self) -> Vec<RecvSpan> {
        let mut out = Vec::new();
        for req in &self.traces {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| str_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push(RecvSpan {
                            service: service.clone(),
                            span: s.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Every metric of every export, oldest first, with its resource's `service.name`.
    pub fn metrics(&self) -> Vec<(String, Metric)> {
        let mut out = Vec::new();
        for req in &self.metrics {
            for rm in &req.resource_metrics {
                let service = rm
                    .resource
                    .as_ref()
                    .and_then(|r| str_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        out.push((service.clone(), m.clone()));
                    }
                }
            }
        }
        out
    }

    /// The most recent export of metric `name`.
    pub fn last_metric(&self, name: &str) -> Option<Metric> {
        self.metrics()
            .into_iter()
            .rev()
            .find(|(_, m)| m.name == name)
            .map(|(_, m)| m)
    }
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub store: Store,
    /// `http`, or `https` behind TLS.
    pub scheme: &'static str,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A loopback port held but not listened on: connections to it are refused until a receiver is
/// started on it with [`Receiver::start_on_reserved`], and no other process can take it meanwhile.
#[derive(Debug)]
pub struct ReservedPort(tokio::net::TcpSocket);

impl ReservedPort {
    pub fn new() -> ReservedPort {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(([127, 0, 0, 1], 0).into()).unwrap();
        ReservedPort(s)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub fn start(transport: Transport) -> Receiver {
        Self::start_on(transport, 0)
    }

    /// Starts a receiver that only counts spans (for benches: memory stays flat).
    pub fn start_counting(transport: Transport) -> Receiver {
        let r = Self::start_on(transport, 0);
        r.store.update(|d| d.count_only = true);
        r
    }

    /// Starts a receiver on `port` (0: any free port).
    pub fn start_on(transport: Transport, port: u16) -> Receiver {
        Self::start_inner(transport, None, port)
    }

    /// Starts listening on a port reserved before.
    pub fn start_on_reserved(transport: Transport, port: ReservedPort) -> Receiver {
        Self::start_inner(transport, Some(port), 0)
    }

    fn start_inner(transport: Transport, reserved: Option<ReservedPort>, port: u16) -> Receiver {
        Self::start_serving(
            transport,
            "http",
            reserved,
            port,
            |listener, store| match transport {
                Transport::Grpc => {
                    let (traces, metrics) = grpc_services(store);
                    Box::pin(async move {
                        let _ = tonic::transport::Server::builder()
                            .add_service(traces)
                            .add_service(metrics)
                            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(
                                listener,
                            ))
                            .await;
                    })
                }
                Transport::Http => {
                    let app = http_app(store);
                    Box::pin(async move {
                        let _ = axum::serve(listener, app).await;
                    })
                }
            },
        )
    }

    /// Starts a receiver on a free loopback port whose server is the future `serve` makes from the
    /// listener and the store (e.g. behind TLS, with `scheme` `https`).
    pub fn start_serving(
        transport: Transport,
        scheme: &'static str,
        reserved: Option<ReservedPort>,
        port: u16,
        serve: impl FnOnce(
            tokio::net::TcpListener,
            &Store,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::default();
        let listener = rt
            .block_on(async move {
                match reserved {
                    Some(ReservedPort(s)) => s.listen(1024),
                    None => tokio::net::TcpListener::bind(("127.0.0.1", port)).await,
                }
            })
            .expect("listen on the receiver's port");
        let addr = listener.local_addr().unwrap();
        rt.spawn(serve(listener, &store));
        Receiver {
            transport,
            addr,
            store,
            scheme,
            rt: Some(rt),
        }
    }

    /// The URL to give the exporter (the gRPC server, or the HTTP base URL).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Waits until at least `n` spans arrived; panics after `timeout`.
    pub fn wait_spans(&self, n: usize, timeout: Duration) -> Vec<RecvSpan> {
        self.store
            .wait(timeout, |d| {
                let s = d.spans();
                (s.len() >= n).then_some(s)
            })
            .unwrap_or_else(|| {
                panic!(
                    "expected {n} spans within {timeout:?}, got {}",
                    self.store.with(|d| d.spans().len())
                )
            })
    }

    /// Waits until metric `name` arrived and `pred` holds for its latest export.
    pub fn wait_metric(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Metric) -> bool,
    ) -> Metric {
        self.store
            .wait(timeout, |d| d.last_metric(name).filter(|m| pred(m)))
            .unwrap_or_else(|| {
                panic!(
                    "metric {name} not as expected within {timeout:?}; last: {:?}",
                    self.store.with(|d| d.last_metric(name))
                )
            })
    }
}

/// The gRPC trace and metrics services, accepting gzip.
pub fn grpc_services(store: &Store) -> (TraceServiceServer<Grpc>, MetricsServiceServer<Grpc>) {
    let svc = Grpc(store.clone());
    (
        TraceServiceServer::new(svc.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
        MetricsServiceServer::new(svc).accept_compressed(tonic::codec::CompressionEncoding::Gzip),
    )
}

/// The HTTP/protobuf routes `/v1/traces` and `/v1/metrics`.
pub fn http_app(store: &Store) -> axum::Router {
    axum::Router::new()
        .route("/v1/traces", post(http_traces))
        .route("/v1/metrics", post(http_metrics))
        .with_state(store.clone())
}

#[derive(Debug, Clone)]
pub struct Grpc(Store);

fn grpc_gzip(store: &Store, md: &tonic::metadata::MetadataMap) {
    if md.get("grpc-encoding").and_then(|v| v.to_str().ok()) == Some("gzip") {
        store.gzipped();
    }
}

fn key_of(md: &tonic::metadata::MetadataMap) -> Option<String> {
    md.get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.0.refused() {
            return Err(tonic::Status::unavailable("refusing (test)"));
        }
        grpc_gzip(&self.0, request.metadata());
        let key = key_of(request.metadata());
        self.0.add_traces(key, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if self.0.refused() {
            return Err(tonic::Status::unavailable("refusing (test)"));
        }
        grpc_gzip(&self.0, request.metadata());
        let key = key_of(request.metadata());
        self.0.add_metrics(key, request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

fn http_key(h: &HeaderMap) -> Option<String> {
    h.get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The body, gunzipped when sent with `Content-Encoding: gzip`.
fn http_body(store: &Store, headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !gzip {
        return Ok(body);
    }
    store.gzipped();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
        .map(|_| Bytes::from(out))
        .map_err(|e| e.to_string())
}

fn protobuf(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
}

async fn http_traces(State(store): State<Store>, headers: HeaderMap, body: Bytes) -> Response {
    if store.refused() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = match http_body(&store, &headers, body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) => {
            store.add_traces(http_key(&headers), req);
            protobuf(ExportTraceServiceResponse::default().encode_to_vec())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn http_metrics(State(store): State<Store>, headers: HeaderMap, body: Bytes) -> Response {
    if store.refused() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = match http_body(&store, &headers, body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    match ExportMetricsServiceRequest::decode(body) {
        Ok(req) => {
            store.add_metrics(http_key(&headers), req);
            protobuf(ExportMetricsServiceResponse::default().encode_to_vec())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

//! What the OTLP behaviour tests (`otlp.rs`, `otlp_tls.rs`) share beside the receiver itself: the
//! exporter they configure, the request they record, and the lookups and counts they assert on.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric, Metric};
use spyglass::event::{EventKind, FnEvent, ReqEvent};
use spyglass::{Spyglass, TraceContext};
use spyglass_exporters::otlp::OtlpStats;
use spyglass_exporters::OtlpExporter;

use crate::otlp_receiver::{RecvSpan, Transport};

/// A caller's `traceparent`: trace `4bf92f3577b34da6a3ce929d0e0e4736`, parent span
/// `00f067aa0ba902b7`, sampled.
pub const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The bound on every wait for the receiver or a flush.
pub const WAIT: Duration = Duration::from_secs(30);
/// The `x-api-key` header every exporter of [`exporter`] sends.
pub const API_KEY: &str = "k-123";

/// An exporter to `endpoint` over `t`, sending the [`API_KEY`] header.
pub fn exporter(t: Transport, endpoint: String) -> OtlpExporter {
    match t {
        Transport::Grpc => OtlpExporter::grpc(endpoint),
        Transport::Http => OtlpExporter::http(endpoint),
    }
    .header("x-api-key", API_KEY)
    // Metrics go out on flush; the periodic export stays out of the way of exact counts.
    .metrics_interval(Duration::from_secs(3600))
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL` for `t`.
pub fn protocol(t: Transport) -> &'static str {
    match t {
        Transport::Grpc => "grpc",
        Transport::Http => "http/protobuf",
    }
}

/// The variable `k` as the builder reads it when `OTEL_EXPORTER_OTLP_ENDPOINT` is `endpoint` and
/// `OTEL_EXPORTER_OTLP_PROTOCOL` names `t`; every other variable unset.
pub fn otlp_var(k: &str, endpoint: &str, t: Transport) -> Option<String> {
    match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.to_string()),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some(protocol(t).to_string()),
        _ => None,
    }
}

/// A `Spyglass` for the service `shop`, exporting through each of `exporters`.
pub fn shop(exporters: impl IntoIterator<Item = OtlpExporter>) -> Spyglass {
    exporters
        .into_iter()
        .fold(Spyglass::builder().service_name("shop"), |b, exp| {
            b.exporter(exp)
        })
        .build()
        .unwrap()
}

/// Request headers, with `traceparent` when given.
pub fn headers(traceparent: Option<&str>) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    if let Some(tp) = traceparent {
        h.insert("traceparent", tp.parse().unwrap());
    }
    h
}

/// The ids of one request → function → query, as recorded.
pub struct Served {
    pub req: TraceContext,
    pub func: TraceContext,
}

/// What a middleware, `#[instrument]` and a DB hook record for one request: request → function →
/// query, the request continuing the caller's trace when `headers` carry a `traceparent`.
pub fn serve(sg: &Spyglass, headers: &axum::http::HeaderMap, status: u16, fail: bool) -> Served {
    let req = sg.new_request_context(spyglass::context::extract(headers), None);
    let em = sg.emitter();
    let func = req.in_scope(|| {
        let func = em.new_span();
        func.in_scope(|| {
            em.emit_db_with(
                "sqlite",
                "SELECT * FROM users WHERE id = 42",
                Duration::from_millis(3),
                Some(1),
                None,
            )
        });
        em.emit_span(
            func,
            5_000_000,
            EventKind::Fn(FnEvent {
                name: "load_user".into(),
                module: "shop::users".into(),
                error: fail,
                error_text: fail.then(|| "user 42 not found".into()),
            }),
        );
        func
    });
    em.emit_span(
        req,
        10_000_000,
        EventKind::Req(ReqEvent {
            method: "GET",
            route: "/users/{id}".into(),
            status,
            bytes_in: 0,
            bytes_out: 1200,
            error: None,
            labels: {
                let mut l = spyglass::Labels::new();
                l.insert("tenant", "acme");
                l.insert("http.route", "/not/the/route"); // a label may not replace an attribute
                l
            },
        }),
    );
    Served { req, func }
}

/// The span of `spans` recorded as `ctx`.
pub fn find<'a>(spans: &'a [RecvSpan], ctx: &TraceContext) -> &'a RecvSpan {
    let id = ctx.span_id().to_hex();
    spans
        .iter()
        .find(|s| s.span_hex() == id.as_str())
        .unwrap_or_else(|| panic!("no span {id} in {spans:#?}"))
}

/// The requests counted in `sg`'s stats over the last 15 minutes.
pub fn request_count(sg: &Spyglass) -> u64 {
    let snap = serde_json::to_value(sg.stats().snapshot(Duration::from_secs(900))).unwrap();
    snap["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

/// The count of a histogram over all its data points.
pub fn histogram_count(m: &Metric) -> u64 {
    match &m.data {
        Some(metric::Data::Histogram(h)) => h.data_points.iter().map(|p| p.count).sum(),
        other => panic!("{} is not a histogram: {other:?}", m.name),
    }
}

/// `requests` requests of [`serve`] were recorded by `sg` while its exporter (with `stats`) could
/// not reach the collector: none of their spans exported, all three of each dropped and counted,
/// and the failures of both signals reported.
pub fn assert_all_dropped(sg: &Spyglass, stats: &OtlpStats, requests: u64) {
    assert_eq!(request_count(sg), requests);
    assert_eq!(stats.spans_exported(), 0);
    assert_eq!(stats.spans_dropped(), 3 * requests);
    assert!(stats.failed_requests() >= 1);
    assert!(stats.metric_export_failures() >= 1);
    assert!(stats.last_error().is_some());
    assert!(sg.collector().export_errors >= 1);
}

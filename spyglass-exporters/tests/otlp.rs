//! OTLP export end to end, against a real OTLP receiver on loopback (tonic gRPC server and HTTP
//! endpoint built from `opentelemetry-proto`'s service definitions), over both protocols.
#![cfg(feature = "otlp")]

mod otlp_common;
mod otlp_receiver;

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp_common::{
    assert_all_dropped, exporter, find, headers, histogram_count, otlp_var, request_count, serve,
    shop, API_KEY, INCOMING, WAIT,
};
use otlp_receiver::{str_attr, Receiver, RecvSpan, ReservedPort, Transport};
use spyglass::event::{EventKind, ReqEvent};
use spyglass::export::{Batch, Exporter};
use spyglass::sample::Sampler;
use spyglass::Spyglass;
use spyglass_exporters::OtlpExporter;

fn children<'a>(spans: &'a [RecvSpan], parent: &RecvSpan) -> Vec<&'a RecvSpan> {
    spans
        .iter()
        .filter(|s| s.parent_hex() == parent.span_hex())
        .collect()
}

fn sum_value(m: &Metric, attr: (&str, &str)) -> i64 {
    match &m.data {
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .filter(|p| str_attr(&p.attributes, attr.0).as_deref() == Some(attr.1))
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(i)) => i,
                Some(number_data_point::Value::AsDouble(d)) => d as i64,
                None => 0,
            })
            .sum(),
        other => panic!("{} is not a sum: {other:?}", m.name),
    }
}

fn spans_and_metrics(t: Transport) {
    let rx = Receiver::start(t);
    let exp = exporter(t, rx.endpoint());
    let stats = exp.stats();
    let sg = shop([exp]);

    let continued = serve(&sg, &headers(Some(INCOMING)), 200, false).req;
    let failed = serve(&sg, &headers(None), 500, true).req;
    // Not sampled: no spans, but the metrics count it.
    let unsampled = sg.new_request_context(None, Some(Sampler::new(0.0)));
    assert!(!unsampled.is_sampled());
    sg.emitter().emit_span(
        unsampled,
        1_000_000,
        EventKind::Req(ReqEvent {
            method: "GET",
            route: "/users/{id}".into(),
            status: 200,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            labels: Default::default(),
        }),
    );
    assert!(sg.flush(WAIT));

    let spans = rx.wait_spans(6, WAIT);
    assert_eq!(spans.len(), 6, "{spans:#?}");
    assert!(spans.iter().all(|s| s.service == "shop"));
    let unsampled_trace = unsampled.trace_id().to_hex();
    assert!(spans
        .iter()
        .all(|s| s.trace_hex() != unsampled_trace.as_str()));

    // The request continues the caller's trace, under the caller's span.
    let req = find(&spans, &continued);
    assert_eq!(req.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(req.parent_hex(), "00f067aa0ba902b7");
    assert_eq!(req.span.kind, SpanKind::Server as i32);
    assert_eq!(req.span.name, "GET /users/{id}");
    assert_eq!(req.str_attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(req.str_attr("http.route").as_deref(), Some("/users/{id}"));
    assert_eq!(req.int_attr("http.response.status_code"), Some(200));
    assert_eq!(req.int_attr("http.response.body.size"), Some(1200));
    assert_eq!(req.attr("error.type"), None);
    assert_eq!(
        req.str_attr("tenant").as_deref(),
        Some("acme"),
        "a hook's label is a span attribute"
    );
    assert_eq!(
        req.span
            .attributes
            .iter()
            .filter(|a| a.key == "http.route")
            .count(),
        1,
        "a label named like an attribute is left out: keys stay unique"
    );
    assert_eq!(
        req.span.status.as_ref().map_or(0, |s| s.code),
        StatusCode::Unset as i32
    );
    assert_eq!(
        req.span.end_time_unix_nano - req.span.start_time_unix_nano,
        10_000_000
    );

    // request → function → query.
    let f = children(&spans, req);
    assert_eq!(f.len(), 1);
    let f = f[0];
    assert_eq!(f.span.kind, SpanKind::Internal as i32);
    assert_eq!(f.span.name, "load_user");
    assert_eq!(
        f.str_attr("code.function.name").as_deref(),
        Some("shop::users::load_user")
    );
    assert_eq!(f.str_attr("code.namespace").as_deref(), Some("shop::users"));
    assert_eq!(f.trace_hex(), req.trace_hex());
    let q = children(&spans, f);
    assert_eq!(q.len(), 1);
    let q = q[0];
    assert_eq!(q.span.kind, SpanKind::Client as i32);
    assert_eq!(q.span.name, "SELECT users");
    assert_eq!(q.str_attr("db.system.name").as_deref(), Some("sqlite"));
    // Redacted: the literal never leaves the process.
    assert_eq!(
        q.str_attr("db.query.text").as_deref(),
        Some("SELECT * FROM users WHERE id = ?")
    );
    assert_eq!(
        q.str_attr("db.query.summary").as_deref(),
        Some("SELECT users")
    );
    assert_eq!(q.str_attr("db.operation.name").as_deref(), Some("SELECT"));
    assert_eq!(q.int_attr("db.response.returned_rows"), Some(1));

    // A 5xx request and a failed function carry error status; a new trace starts without a
    // traceparent.
    let bad = find(&spans, &failed);
    assert_ne!(bad.trace_hex(), req.trace_hex());
    assert!(bad.span.parent_span_id.is_empty());
    let st = bad.span.status.clone().unwrap();
    assert_eq!(st.code, StatusCode::Error as i32);
    assert_eq!(st.message, "HTTP 500");
    assert_eq!(bad.str_attr("error.type").as_deref(), Some("500"));
    let bad_fn = children(&spans, bad)[0];
    let st = bad_fn.span.status.clone().unwrap();
    assert_eq!(st.code, StatusCode::Error as i32);
    assert_eq!(st.message, "user 42 not found");

    // Every request carried the configured header.
    rx.store.with(|d| {
        assert!(!d.api_keys.is_empty());
        assert!(d.api_keys.iter().all(|k| k.as_deref() == Some(API_KEY)));
    });

    // Metrics count every event, sampled or not.
    let http = rx.wait_metric("http.server.request.duration", WAIT, |m| {
        histogram_count(m) == 3
    });
    assert_eq!(http.unit, "s");
    let Some(metric::Data::Histogram(h)) = &http.data else {
        unreachable!()
    };
    let p500 = h
        .data_points
        .iter()
        .find(|p| {
            otlp_receiver::attr(&p.attributes, "http.response.status_code")
                == Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(500))
        })
        .expect("a 500 data point");
    assert_eq!(p500.count, 1);
    assert_eq!(
        str_attr(&p500.attributes, "error.type").as_deref(),
        Some("500")
    );
    assert_eq!(
        str_attr(&p500.attributes, "http.route").as_deref(),
        Some("/users/{id}")
    );
    assert_eq!(
        str_attr(&p500.attributes, "tenant"),
        None,
        "labels are never metric attributes"
    );
    let calls = rx.wait_metric("function.calls", WAIT, |_| true);
    assert_eq!(sum_value(&calls, ("result", "ok")), 1);
    assert_eq!(sum_value(&calls, ("result", "error")), 1);
    assert_eq!(sum_value(&calls, ("function", "load_user")), 2);
    let fdur = rx.wait_metric("function.calls.duration", WAIT, |_| true);
    assert_eq!(histogram_count(&fdur), 2);
    let db = rx.wait_metric("db.client.operation.duration", WAIT, |_| true);
    assert_eq!(histogram_count(&db), 2);
    let Some(metric::Data::Histogram(h)) = &db.data else {
        unreachable!()
    };
    assert_eq!(
        str_attr(&h.data_points[0].attributes, "db.query.summary").as_deref(),
        Some("SELECT users")
    );
    assert_eq!(
        str_attr(&h.data_points[0].attributes, "db.system.name").as_deref(),
        Some("sqlite")
    );
    rx.wait_metric("spyglass.otlp.spans.exported", WAIT, |_| true);

    assert_eq!(stats.spans_exported(), 6);
    assert_eq!(stats.spans_dropped(), 0);
    assert!(stats.metric_exports() >= 1);
    assert_eq!(sg.collector().export_errors, 0);
    sg.shutdown();
}

#[test]
fn grpc_spans_attributes_links_and_metrics() {
    spans_and_metrics(Transport::Grpc);
}

#[test]
fn http_spans_attributes_links_and_metrics() {
    spans_and_metrics(Transport::Http);
}

fn down_then_up(t: Transport) {
    let port = ReservedPort::new();
    let exp = exporter(t, port.endpoint())
        .timeout(Duration::from_secs(2))
        .max_retries(1)
        .retry_delay(Duration::from_millis(20));
    let stats = exp.stats();
    let sg = shop([exp]);

    // The collector is down: the app keeps serving and recording; spans are dropped and counted.
    for _ in 0..20 {
        serve(&sg, &headers(None), 200, false);
    }
    assert!(sg.flush(WAIT));
    assert_all_dropped(&sg, &stats, 20);

    // It comes back: export resumes by itself.
    let rx = Receiver::start_on_reserved(t, port);
    let ctx = serve(&sg, &headers(Some(INCOMING)), 200, false).req;
    assert!(sg.flush(WAIT));
    let spans = rx.wait_spans(3, WAIT);
    assert_eq!(spans.len(), 3);
    assert!(spans
        .iter()
        .all(|s| s.trace_hex() == ctx.trace_id().to_hex().as_str()));
    assert_eq!(stats.spans_exported(), 3);
    assert_eq!(stats.spans_dropped(), 60);
    // Metrics are cumulative: the requests served during the outage are not lost.
    rx.wait_metric("http.server.request.duration", WAIT, |m| {
        histogram_count(m) == 21
    });
    rx.wait_metric("spyglass.otlp.spans.dropped", WAIT, |m| {
        sum_value_any(m) == 60
    });
    sg.shutdown();
}

fn sum_value_any(m: &Metric) -> i64 {
    match &m.data {
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(i)) => i,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

#[test]
fn grpc_receiver_down_at_start_then_up() {
    down_then_up(Transport::Grpc);
}

#[test]
fn http_receiver_down_at_start_then_up() {
    down_then_up(Transport::Http);
}

/// A collector that accepts connections but never answers: the send queue fills up to its bound,
/// further batches are dropped and counted at once, and `export` never waits on the network.
#[test]
fn a_stalled_collector_is_bounded_and_counted() {
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut exp = OtlpExporter::grpc(format!("http://{}", blackhole.local_addr().unwrap()))
        .timeout(Duration::from_secs(60))
        .max_retries(0)
        .max_queued_batches(2)
        .max_spans_per_request(1)
        .flush_timeout(Duration::from_millis(50))
        .metrics(false);
    let stats = exp.stats();
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    exp.start(sg.resource()).unwrap();
    let events = [spyglass::Event::function("f", "m", 1_000, false)];
    let batch = Batch {
        events: &events,
        resource: sg.resource(),
    };
    let mut lost = 0;
    for _ in 0..20 {
        if exp.export(&batch).is_err() {
            lost += 1;
        }
    }
    // One batch in flight (or still queued), two queued: the rest dropped.
    assert!(stats.queue_full_drops() >= 17, "{stats:?}");
    assert!(stats.queue_full_drops() <= 18, "{stats:?}");
    assert_eq!(stats.spans_dropped(), stats.queue_full_drops());
    assert_eq!(lost, stats.queue_full_drops());
    assert!(exp.shutdown().is_err(), "the flush cannot complete");
    drop(blackhole);
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_PROTOCOL`, as parsed by the builder, make
/// a working exporter.
#[test]
fn exporter_from_env_variables() {
    for t in [Transport::Grpc, Transport::Http] {
        let rx = Receiver::start(t);
        let endpoint = rx.endpoint();
        let b = Spyglass::builder().from_vars(|k| match k {
            "OTEL_SERVICE_NAME" => Some("from-env".into()),
            _ => otlp_var(k, &endpoint, t),
        });
        let exp = OtlpExporter::from_env(b.env_exporters()).unwrap();
        assert_eq!(exp.endpoint_url(), endpoint);
        let sg = Spyglass::builder()
            .service_name("from-env")
            .exporter(exp)
            .build()
            .unwrap();
        serve(&sg, &headers(None), 200, false);
        assert!(sg.flush(WAIT));
        let spans = rx.wait_spans(3, WAIT);
        assert!(spans.iter().all(|s| s.service == "from-env"));
        sg.shutdown();
    }
}

/// An endpoint the OTLP client cannot use: reported once through the collector, events dropped and
/// counted, the app unaffected.
#[test]
fn an_unusable_endpoint_is_reported_and_counted() {
    let exp = OtlpExporter::grpc("http://[not a host");
    let stats = exp.stats();
    let sg = Spyglass::builder().exporter(exp).build().unwrap();
    serve(&sg, &headers(None), 200, false);
    assert!(sg.flush(WAIT));
    assert_eq!(request_count(&sg), 1);
    assert_eq!(stats.spans_dropped(), 3);
    assert!(sg.collector().export_errors >= 1);
}

/// A collector that answers "unavailable": each request is retried with backoff exactly
/// `max_retries` times, then its spans are dropped and counted; once it accepts again, export
/// resumes by itself.
fn refusing(t: Transport) {
    let rx = Receiver::start(t);
    rx.store.set_refuse(true);
    let exp = exporter(t, rx.endpoint())
        .metrics(false)
        .max_retries(2)
        .retry_delay(Duration::from_millis(10));
    let stats = exp.stats();
    let sg = Spyglass::builder().exporter(exp).build().unwrap();
    serve(&sg, &headers(None), 200, false);
    assert!(sg.flush(WAIT));
    assert_eq!(rx.store.with(|d| d.refused), 3, "1 attempt + 2 retries");
    assert_eq!(stats.failed_requests(), 1);
    assert_eq!(stats.spans_dropped(), 3);
    assert!(sg.collector().export_errors >= 1);

    rx.store.set_refuse(false);
    serve(&sg, &headers(None), 200, false);
    assert!(sg.flush(WAIT));
    assert_eq!(rx.wait_spans(3, WAIT).len(), 3);
    assert_eq!(stats.spans_exported(), 3);
    assert_eq!(rx.store.with(|d| d.refused), 3);
}

#[test]
fn grpc_refusing_collector_is_retried_then_counted() {
    refusing(Transport::Grpc);
}

#[test]
fn http_refusing_collector_is_retried_then_counted() {
    refusing(Transport::Http);
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`: every request is compressed, the receiver decodes it.
#[test]
fn gzip_compression_over_both_protocols() {
    for t in [Transport::Grpc, Transport::Http] {
        let rx = Receiver::start(t);
        let endpoint = rx.endpoint();
        let b = Spyglass::builder().from_vars(|k| otlp_var(k, &endpoint, t));
        let exp = OtlpExporter::from_env(b.env_exporters())
            .unwrap()
            .gzip(true)
            .metrics_interval(Duration::from_secs(3600));
        let sg = Spyglass::builder().exporter(exp).build().unwrap();
        serve(&sg, &headers(Some(INCOMING)), 200, false);
        assert!(sg.flush(WAIT));
        let spans = rx.wait_spans(3, WAIT);
        assert!(spans
            .iter()
            .all(|s| s.trace_hex() == "4bf92f3577b34da6a3ce929d0e0e4736"));
        rx.wait_metric("http.server.request.duration", WAIT, |m| {
            histogram_count(m) == 1
        });
        rx.store.with(|d| {
            // Every trace and metric request arrived compressed.
            assert_eq!(d.gzipped, d.traces.len() + d.metrics.len(), "{t:?}");
            assert!(d.gzipped >= 2);
        });
        sg.shutdown();
    }
}

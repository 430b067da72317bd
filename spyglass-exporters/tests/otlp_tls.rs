//! OTLP export over TLS, end to end, against the real receivers of `otlp_receiver` served behind
//! TLS on loopback with a certificate authority made at test time, over both protocols: the CA
//! from the builder and from the environment, a server the exporter does not trust, mutual TLS,
//! and certificate files that cannot be used.
#![cfg(feature = "otlp")]

mod otlp_common;
mod otlp_receiver;
#[path = "otlp_receiver/tls.rs"]
mod tls_receiver;

use std::time::Duration;

use otlp_common::{
    assert_all_dropped, exporter, find, headers, histogram_count, otlp_var, request_count, serve,
    shop, Served, API_KEY, INCOMING, WAIT,
};
use otlp_receiver::{Receiver, RecvSpan, Transport};
use spyglass::Spyglass;
use spyglass_exporters::OtlpExporter;
use tls_receiver::{start_tls, ClientAuth, Pki};

/// What a middleware, `#[instrument]` and a DB hook record for one request that continues the
/// caller's trace.
fn serve_continued(sg: &Spyglass) -> Served {
    serve(sg, &headers(Some(INCOMING)), 200, false)
}

/// The request's three spans arrived decoded, with the recorded ids and links.
fn assert_request_spans(spans: &[RecvSpan], served: &Served) {
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let req = find(spans, &served.req);
    assert_eq!(req.span.name, "GET /users/{id}");
    assert_eq!(req.parent_hex(), "00f067aa0ba902b7");
    let func = find(spans, &served.func);
    assert_eq!(func.span.name, "load_user");
    assert_eq!(func.parent_hex(), req.span_hex());
    let query = spans
        .iter()
        .find(|s| s.span.name == "SELECT users")
        .expect("the query span");
    assert_eq!(query.parent_hex(), func.span_hex());
    assert_eq!(
        query.str_attr("db.query.text").as_deref(),
        Some("SELECT * FROM users WHERE id = ?")
    );
    for s in spans {
        assert_eq!(s.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s.trace_hex(), served.req.trace_id().to_hex().as_str());
        assert_eq!(s.service, "shop");
    }
}

/// A `shop` exporting through `exporters` serves one request continuing the caller's trace, and
/// its spans and request metric reach `rx`.
fn serve_one_to(rx: &Receiver, exporters: impl IntoIterator<Item = OtlpExporter>) -> Spyglass {
    let sg = shop(exporters);
    let served = serve_continued(&sg);
    assert!(sg.flush(WAIT));
    assert_request_spans(&rx.wait_spans(3, WAIT), &served);
    rx.wait_metric("http.server.request.duration", WAIT, |m| {
        histogram_count(m) == 1
    });
    sg
}

/// Spans and metrics reach `rx` over TLS through `exp`.
fn exports_over_tls(rx: &Receiver, exp: OtlpExporter) {
    assert!(rx.endpoint().starts_with("https://"));
    let stats = exp.stats();
    let sg = serve_one_to(rx, [exp]);
    rx.store.with(|d| {
        assert!(d.api_keys.iter().all(|k| k.as_deref() == Some(API_KEY)));
    });
    assert_eq!(stats.spans_exported(), 3);
    assert_eq!(stats.spans_dropped(), 0);
    assert_eq!(stats.metric_export_failures(), 0);
    assert_eq!(sg.collector().export_errors, 0);
    sg.shutdown();
}

fn ca_from_the_builder(t: Transport) {
    let pki = Pki::new();
    let rx = start_tls(t, &pki, ClientAuth::None);
    let exp = exporter(t, rx.endpoint())
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap();
    exports_over_tls(&rx, exp);
}

#[test]
fn grpc_over_tls_with_the_ca_from_the_builder() {
    ca_from_the_builder(Transport::Grpc);
}

#[test]
fn http_over_tls_with_the_ca_from_the_builder() {
    ca_from_the_builder(Transport::Http);
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT=https://localhost:…` with the CA file named by `ca_vars`, as
/// `from_env` reads them from the process environment (one process per test under nextest).
fn ca_from_the_environment(t: Transport, ca_vars: &[&str]) {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    // Before any thread of this test reads the environment.
    for var in ca_vars {
        std::env::set_var(var, &ca);
    }
    let rx = start_tls(t, &pki, ClientAuth::None);
    // The certificate names localhost too.
    let endpoint = format!("https://localhost:{}", rx.addr.port());
    let b = Spyglass::builder().from_vars(|k| otlp_var(k, &endpoint, t));
    let exp = OtlpExporter::from_env(b.env_exporters())
        .unwrap()
        .header("x-api-key", API_KEY)
        .metrics_interval(Duration::from_secs(3600));
    assert_eq!(exp.endpoint_url(), endpoint);
    exports_over_tls(&rx, exp);
}

#[test]
fn grpc_over_tls_with_the_ca_from_otel_exporter_otlp_certificate() {
    ca_from_the_environment(Transport::Grpc, &["OTEL_EXPORTER_OTLP_CERTIFICATE"]);
}

#[test]
fn http_over_tls_with_the_ca_from_the_per_signal_variables() {
    ca_from_the_environment(
        Transport::Http,
        &[
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        ],
    );
}

/// A server whose certificate the exporter cannot verify (its CA is not among the system roots):
/// every export fails, is retried, then dropped and counted; the app keeps serving and
/// recording, and nothing reaches the receiver.
fn untrusted_server(t: Transport) {
    let pki = Pki::new();
    let rx = start_tls(t, &pki, ClientAuth::None);
    let exp = exporter(t, rx.endpoint())
        .timeout(Duration::from_secs(5))
        .max_retries(1)
        .retry_delay(Duration::from_millis(10));
    let stats = exp.stats();
    let sg = shop([exp]);
    for _ in 0..5 {
        serve_continued(&sg);
    }
    assert!(sg.flush(WAIT));
    assert_all_dropped(&sg, &stats, 5);
    // Still serving: the next request is recorded like the others.
    serve_continued(&sg);
    assert!(sg.flush(WAIT));
    assert_eq!(request_count(&sg), 6);
    assert_eq!(stats.spans_dropped(), 18);
    rx.store.with(|d| {
        assert!(d.traces.is_empty() && d.metrics.is_empty(), "{d:?}");
    });
    sg.shutdown();
}

#[test]
fn grpc_over_tls_to_an_untrusted_server_is_counted() {
    untrusted_server(Transport::Grpc);
}

#[test]
fn http_over_tls_to_an_untrusted_server_is_counted() {
    untrusted_server(Transport::Http);
}

/// A receiver that requires a client certificate: an exporter without one is refused and counts
/// its drops, one with the identity (from the builder, or from the environment) gets through.
fn mutual_tls(t: Transport, identity_from_env: bool) {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    let (ca, cert, key) = (
        write("ca.pem", &pki.ca_pem),
        write("client.pem", &pki.client_cert_pem),
        write("client.key", &pki.client_key_pem),
    );
    if identity_from_env {
        std::env::set_var("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca);
        std::env::set_var("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert);
        std::env::set_var("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key);
    }
    let rx = start_tls(t, &pki, ClientAuth::Required);

    let anonymous = exporter(t, rx.endpoint())
        .ca_certificate_file(&ca)
        .unwrap()
        .metrics(false)
        .timeout(Duration::from_secs(5))
        .max_retries(0);
    let anonymous_stats = anonymous.stats();
    let identified = if identity_from_env {
        let b = Spyglass::builder().from_vars(|k| otlp_var(k, &rx.endpoint(), t));
        OtlpExporter::from_env(b.env_exporters()).unwrap()
    } else {
        exporter(t, rx.endpoint())
            .ca_certificate_file(&ca)
            .unwrap()
            .client_identity_files(&cert, &key)
            .unwrap()
    }
    .metrics_interval(Duration::from_secs(3600));
    let identified_stats = identified.stats();
    let sg = serve_one_to(&rx, [anonymous, identified]);
    assert_eq!(identified_stats.spans_exported(), 3);
    assert_eq!(identified_stats.spans_dropped(), 0);
    assert_eq!(anonymous_stats.spans_exported(), 0);
    assert_eq!(anonymous_stats.spans_dropped(), 3);
    assert!(sg.collector().export_errors >= 1);
    // Only the identified exporter's request arrived.
    assert_eq!(rx.store.with(|d| d.traces.len()), 1);
    sg.shutdown();
}

#[test]
fn grpc_mutual_tls_with_the_identity_from_the_builder() {
    mutual_tls(Transport::Grpc, false);
}

#[test]
fn http_mutual_tls_with_the_identity_from_the_environment() {
    mutual_tls(Transport::Http, true);
}

/// A certificate file that is missing or malformed is an error when the exporter is configured,
/// naming the variable (or setter) and the path, for either protocol, and never a panic.
#[test]
fn unusable_certificate_files_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let junk = junk.display().to_string();
    let missing = dir.path().join("missing.pem").display().to_string();

    std::env::set_var("OTEL_EXPORTER_OTLP_CERTIFICATE", &junk);
    for t in [Transport::Grpc, Transport::Http] {
        let b = Spyglass::builder().from_vars(|k| otlp_var(k, "https://127.0.0.1:4317", t));
        let err = OtlpExporter::from_env(b.env_exporters())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE")
                && err.contains(&junk)
                && err.contains("not a usable CA certificate"),
            "{err}"
        );
        // The same through the crate's environment factory.
        let err = spyglass_exporters::from_env(b.env_exporters())
            .unwrap_err()
            .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{err}");

        let err = exporter(t, "https://127.0.0.1:4317".into())
            .ca_certificate_file(&junk)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ca_certificate_file") && err.contains(&junk),
            "{err}"
        );
    }
    std::env::set_var("OTEL_EXPORTER_OTLP_CERTIFICATE", &missing);
    let b = Spyglass::builder().from_vars(|k| {
        (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "https://127.0.0.1:4318".to_string())
    });
    let err = OtlpExporter::from_env(b.env_exporters())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE")
            && err.contains(&missing)
            && err.contains("cannot read"),
        "{err}"
    );
    let pki = Pki::new();
    let err = OtlpExporter::http("https://127.0.0.1:4318")
        .client_identity_pem(&pki.client_cert_pem, &pki.server_key_pem)
        .unwrap_err()
        .to_string();
    assert!(err.contains("client_identity_pem"), "{err}");
}

//! Two services in two processes, both exporting over OTLP/gRPC to one real receiver on loopback:
//! a request to `frontend` that calls `backend` is one trace across both.

#[path = "../../../spyglass-exporters/tests/otlp_receiver/mod.rs"]
mod otlp_receiver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use otlp_receiver::{Receiver, RecvSpan, Transport};

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const WAIT: Duration = Duration::from_secs(30);

/// A child process killed when the test ends, however it ends.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], otlp: &str) -> Service {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_two-services"));
    // Only this test's settings: no exporter or OTLP variable of the test runner leaks in.
    for (k, _) in std::env::vars() {
        if k.starts_with("SPYGLASS_") || k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the example binary");
    // The service prints its address once it listens: read that line (bounded by the process
    // exiting, which closes the pipe).
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("{args:?} did not start: {line:?}"))
        .to_string();
    Service { child, url }
}

/// A plain HTTP/1.1 GET; returns the status code and the raw response.
fn get(base: &str, path: &str, traceparent: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\ntraceparent: {traceparent}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn by<'a>(spans: &'a [RecvSpan], service: &str, kind: SpanKind) -> &'a RecvSpan {
    spans
        .iter()
        .find(|s| s.service == service && s.span.kind == kind as i32)
        .unwrap_or_else(|| panic!("no {kind:?} span from {service} in {spans:#?}"))
}

#[test]
fn a_call_across_two_services_is_one_trace() {
    let rx = Receiver::start(Transport::Grpc);
    let backend = spawn(&["backend"], &rx.endpoint());
    let frontend = spawn(&["frontend", "--backend", &backend.url], &rx.endpoint());

    let (status, resp) = get(&frontend.url, "/checkout/7", INCOMING);
    assert_eq!(status, 200, "{resp}");
    assert!(resp.ends_with("checkout 7: 100\n"), "{resp}");
    // The response names the trace it belongs to.
    assert!(
        resp.to_ascii_lowercase()
            .contains("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{resp}"
    );

    let spans = rx.wait_spans(5, WAIT);
    assert_eq!(spans.len(), 5, "{spans:#?}");
    // One trace, the caller's.
    assert!(spans
        .iter()
        .all(|s| s.trace_hex() == "4bf92f3577b34da6a3ce929d0e0e4736"));

    let front_req = by(&spans, "frontend", SpanKind::Server);
    assert_eq!(front_req.span.name, "GET /checkout/{id}");
    assert_eq!(front_req.parent_hex(), "00f067aa0ba902b7");
    let fetch = by(&spans, "frontend", SpanKind::Internal);
    assert_eq!(fetch.span.name, "fetch_price");
    assert_eq!(fetch.parent_hex(), front_req.span_hex());

    // The backend's request continues from the frontend's function, whose context went out in
    // the reqwest call's traceparent.
    let back_req = by(&spans, "backend", SpanKind::Server);
    assert_eq!(back_req.span.name, "GET /prices/{id}");
    assert_eq!(back_req.parent_hex(), fetch.span_hex());
    let lookup = by(&spans, "backend", SpanKind::Internal);
    assert_eq!(lookup.span.name, "lookup_price");
    assert_eq!(lookup.parent_hex(), back_req.span_hex());
    let query = by(&spans, "backend", SpanKind::Client);
    assert_eq!(query.parent_hex(), lookup.span_hex());
    assert_eq!(
        query.str_attr("db.query.text").as_deref(),
        Some("SELECT price FROM prices WHERE id = ?")
    );
}

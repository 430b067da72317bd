//! HTTP/2 over loopback (h2c with prior knowledge, RFC 9113 §3.3): a request without a body (a GET,
//! whose stream ends with its headers) reaches the handler with actix's own payload, no counter
//! wrapped around it (the counter costs two allocations); a body without `Content-Length` is
//! counted whole, whether its first data had arrived when the middleware looked or came later.
//!
//! The HTTP clients among the dev-dependencies speak HTTP/1 only, so the client side is a few
//! HTTP/2 frames written by hand: one request per connection, headers in HPACK's plainest form
//! (static table indices and literals without Huffman coding).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, App, HttpServer};
use spyglass_actix::Spyglass as Middleware;
use spyglass_http_suite::recorded::{instance, req_events, wait_count};

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Serves `$factory` over h2c (and HTTP/1) on its own thread and actix system.
macro_rules! serve_h2c {
    ($factory:expr) => {{
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let factory = $factory;
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(factory)
                    .workers(1)
                    .disable_signals()
                    .bind_auto_h2c(("127.0.0.1", 0))
                    .unwrap();
                tx.send(server.addrs()[0]).unwrap();
                server.run().await.unwrap();
            })
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("server started")
    }};
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A header literal without indexing, its name from the static table (HPACK §6.2.2).
fn literal(name_index: u8, value: &str) -> Vec<u8> {
    assert!(value.len() < 127);
    let mut b = vec![name_index, value.len() as u8];
    b.extend_from_slice(value.as_bytes());
    b
}

/// The request's body: sent with the headers, or after a pause (the handler is waiting by then).
enum Body<'a> {
    None,
    WithHeaders(&'a [&'a [u8]]),
    Later(&'a [&'a [u8]]),
}

/// Sends one request on stream 1 of a new connection; returns the response's `:status` byte (0x88
/// is `200` from HPACK's static table) and its body.
fn h2_request(addr: SocketAddr, post: bool, path: &str, body: Body<'_>) -> (u8, Vec<u8>) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut block = vec![if post { 0x83 } else { 0x82 }, 0x86]; // :method, :scheme http
    block.extend(literal(0x04, path)); // :path
    block.extend(literal(0x01, "spyglass")); // :authority
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    let end = if matches!(body, Body::None) {
        END_STREAM
    } else {
        0
    };
    out.extend(frame(HEADERS, END_HEADERS | end, 1, &block));
    let data = |chunks: &[&[u8]]| {
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            out.extend(frame(DATA, if last { END_STREAM } else { 0 }, 1, c));
        }
        out
    };
    match body {
        Body::None => conn.write_all(&out).unwrap(),
        Body::WithHeaders(chunks) => {
            out.extend(data(chunks));
            conn.write_all(&out).unwrap();
        }
        Body::Later(chunks) => {
            conn.write_all(&out).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            conn.write_all(&data(chunks)).unwrap();
        }
    }
    let (mut status, mut resp) = (0, Vec::new());
    loop {
        let mut head = [0u8; 9];
        conn.read_exact(&mut head).expect("a frame");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).unwrap();
        match kind {
            SETTINGS if flags & ACK == 0 => conn.write_all(&frame(SETTINGS, ACK, 0, &[])).unwrap(),
            PING if flags & ACK == 0 => conn.write_all(&frame(PING, ACK, 0, &payload)).unwrap(),
            HEADERS if stream == 1 => {
                status = payload[0];
                if flags & END_STREAM != 0 {
                    return (status, resp);
                }
            }
            DATA if stream == 1 => {
                resp.extend_from_slice(&payload);
                if flags & END_STREAM != 0 {
                    return (status, resp);
                }
            }
            RST_STREAM | GOAWAY => panic!("the server ended the exchange (frame type {kind})"),
            _ => {}
        }
    }
}

/// The payload as the handler gets it: actix's own HTTP/2 stream, or the middleware's counter.
async fn payload_kind(payload: web::Payload) -> &'static str {
    match payload.into_inner() {
        Payload::None => "none",
        Payload::H1 { .. } => "http/1",
        Payload::H2 { .. } => "http/2",
        Payload::Stream { .. } => "wrapped",
    }
}

#[tokio::test]
async fn http2_requests_without_a_body_get_no_payload_counter() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let addr = serve_h2c!(move || {
        App::new()
            .route("/kind", web::get().to(payload_kind))
            .route("/kind", web::delete().to(payload_kind))
            .wrap(Middleware::with_instance(s.clone()))
    });
    let got = tokio::task::spawn_blocking(move || h2_request(addr, false, "/kind", Body::None))
        .await
        .unwrap();
    println!(
        "GET over HTTP/2: status byte {:#x}, {:?}",
        got.0,
        String::from_utf8_lossy(&got.1)
    );
    assert_eq!(
        got,
        (0x88, b"http/2".to_vec()),
        "actix's own payload, unwrapped"
    );
    wait_count(&sg, "/kind", 1).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let (_, req) = req_events(&mem).pop().unwrap();
    assert_eq!((req.method, req.status, req.bytes_in), ("GET", 200, 0));
}

#[tokio::test]
async fn http2_bodies_without_a_length_are_counted_whole() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let addr = serve_h2c!(move || {
        App::new()
            .route("/echo", web::post().to(|b: web::Bytes| async move { b }))
            .route("/kind", web::post().to(payload_kind))
            .wrap(Middleware::with_instance(s.clone()))
    });
    let chunks: &[&[u8]] = &[&[b'a'; 700], &[b'b'; 1], &[b'c'; 4096]];
    let (early, late, kind) = tokio::task::spawn_blocking(move || {
        (
            h2_request(addr, true, "/echo", Body::WithHeaders(chunks)),
            h2_request(addr, true, "/echo", Body::Later(chunks)),
            h2_request(addr, true, "/kind", Body::WithHeaders(&[b"x"])),
        )
    })
    .await
    .unwrap();
    let whole = chunks.concat();
    assert_eq!(early, (0x88, whole.clone()), "data sent with the headers");
    assert_eq!(late, (0x88, whole.clone()), "data sent after a pause");
    assert_eq!(kind.1, b"wrapped", "a body is counted");
    wait_count(&sg, "/echo", 2).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let echo: Vec<(u64, u64)> = req_events(&mem)
        .into_iter()
        .filter(|r| r.1.route == "/echo")
        .map(|r| (r.1.bytes_in, r.1.bytes_out))
        .collect();
    println!("POST /echo over HTTP/2 (bytes in, out): {echo:?}");
    assert_eq!(echo, [(4797, 4797); 2]);
}

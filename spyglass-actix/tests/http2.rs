//! HTTP/2 over loopback (h2c with prior knowledge, RFC 9113 §3.3, spoken by the `h2` crate's
//! client): a request without a body (a GET, whose stream ends with its headers) reaches the
//! handler with actix's own payload, no counter wrapped around it (the counter costs two
//! allocations); a body without `Content-Length` is counted whole, whether its first data had
//! arrived when the middleware looked or came after the handler had started.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, App, HttpServer};
use bytes::Bytes;
use futures_util::StreamExt;
use spyglass_actix::Spyglass as Middleware;
use spyglass_http_suite::recorded::{instance, req_events, wait_count};
use tokio::sync::mpsc;

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

/// The request's body.
enum Body<'a> {
    /// None: the stream ends with the headers.
    None,
    /// Sent right behind the headers, in the same write.
    WithHeaders(&'a [&'a [u8]]),
    /// Sent once the handler has said (on the channel) that it runs: after the middleware has
    /// looked at the payload.
    AfterStart(&'a [&'a [u8]], &'a mut mpsc::UnboundedReceiver<()>),
}

/// Sends one request on a new HTTP/2 connection; returns the response's status and body.
async fn h2_request(addr: SocketAddr, method: &str, path: &str, body: Body<'_>) -> (u16, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(())
        .unwrap();
    let (resp, mut send) = client
        .send_request(req, matches!(body, Body::None))
        .unwrap();
    let mut send_all = |chunks: &[&[u8]]| {
        for (i, c) in chunks.iter().enumerate() {
            send.send_data(Bytes::copy_from_slice(c), i + 1 == chunks.len())
                .unwrap();
        }
    };
    match body {
        Body::None => {}
        Body::WithHeaders(chunks) => send_all(chunks),
        Body::AfterStart(chunks, started) => {
            tokio::time::timeout(Duration::from_secs(10), started.recv())
                .await
                .expect("the handler started")
                .expect("the server is up");
            send_all(chunks);
        }
    }
    let resp = resp.await.expect("a response");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (status, out)
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

/// Says on `started` that it runs, then reads the payload to its end and echoes it.
async fn echo_after_start(
    started: web::Data<mpsc::UnboundedSender<()>>,
    mut payload: web::Payload,
) -> Bytes {
    let _ = started.send(());
    let mut out = Vec::new();
    while let Some(chunk) = payload.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out.into()
}

#[tokio::test]
async fn http2_requests_without_a_body_get_no_payload_counter() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let addr = serve_h2c!(move || {
        App::new()
            .route("/kind", web::get().to(payload_kind))
            .wrap(Middleware::with_instance(s.clone()))
    });
    let got = h2_request(addr, "GET", "/kind", Body::None).await;
    println!(
        "GET over HTTP/2: status {}, {:?}",
        got.0,
        String::from_utf8_lossy(&got.1)
    );
    assert_eq!(
        got,
        (200, b"http/2".to_vec()),
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
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let addr = serve_h2c!(move || {
        App::new()
            .app_data(web::Data::new(started_tx.clone()))
            .route("/echo", web::post().to(|b: web::Bytes| async move { b }))
            .route("/echo-after-start", web::post().to(echo_after_start))
            .route("/kind", web::post().to(payload_kind))
            .wrap(Middleware::with_instance(s.clone()))
    });
    let chunks: &[&[u8]] = &[&[b'a'; 700], &[b'b'; 1], &[b'c'; 4096]];
    let early = h2_request(addr, "POST", "/echo", Body::WithHeaders(chunks)).await;
    let late = h2_request(
        addr,
        "POST",
        "/echo-after-start",
        Body::AfterStart(chunks, &mut started),
    )
    .await;
    let kind = h2_request(addr, "POST", "/kind", Body::WithHeaders(&[b"x"])).await;
    let whole = chunks.concat();
    assert_eq!(early, (200, whole.clone()), "data sent with the headers");
    assert_eq!(late, (200, whole.clone()), "data sent once the handler ran");
    assert_eq!(kind.1, b"wrapped", "a body is counted");
    wait_count(&sg, "/echo", 1).await;
    wait_count(&sg, "/echo-after-start", 1).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let mut echo: Vec<(String, u64, u64)> = req_events(&mem)
        .into_iter()
        .filter(|r| r.1.route.starts_with("/echo"))
        .map(|r| (r.1.route.to_string(), r.1.bytes_in, r.1.bytes_out))
        .collect();
    echo.sort();
    println!("POST over HTTP/2 (route, bytes in, out): {echo:?}");
    assert_eq!(
        echo,
        [
            ("/echo".to_string(), 4797, 4797),
            ("/echo-after-start".to_string(), 4797, 4797)
        ]
    );
}

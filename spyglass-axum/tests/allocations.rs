//! Heap allocations the layer adds per request, over real loopback HTTP: the same axum app served
//! bare and with `SpyglassLayer` on a current-thread runtime, so hyper, axum, the layer and the stats
//! store all run on the one server thread, where a counting allocator (`allocation-counter`) counts
//! every allocation while a plain socket client on another thread sends the same keep-alive requests.
//! (The collector thread, which exports in batches off the request path, is not counted.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;

use axum::routing::get;
use axum::Router;

#[derive(Clone, Copy, Debug)]
enum Variant {
    Bare,
    /// A layer that does nothing: what any `Router::layer` costs in axum.
    NoopLayer,
    Spyglass,
}

fn app(v: Variant) -> Router {
    let r = Router::new().route("/users/{id}", get(|| async { "user" }));
    match v {
        Variant::Bare => r,
        Variant::NoopLayer => r.layer(tower::util::MapResponseLayer::new(
            |r: axum::response::Response| r,
        )),
        Variant::Spyglass => r.layer(spyglass_axum::SpyglassLayer::new()),
    }
}

/// Sends `n` keep-alive GETs and reads each whole response (the body is 4 bytes).
fn requests(conn: &mut TcpStream, n: usize) {
    let req = b"GET /users/7 HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut buf = [0u8; 4096];
    for _ in 0..n {
        conn.write_all(req).unwrap();
        let mut got = 0;
        loop {
            let k = conn.read(&mut buf[got..]).unwrap();
            assert!(k > 0, "server closed the connection");
            got += k;
            let text = &buf[..got];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                if got >= end + 4 + 4 {
                    assert!(
                        text.starts_with(b"HTTP/1.1 200"),
                        "{}",
                        String::from_utf8_lossy(text)
                    );
                    break;
                }
            }
        }
    }
}

/// Allocations on the server thread per request, for `n` requests after a warm-up.
fn per_request(layered: Variant, n: usize) -> f64 {
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (warm_tx, warm_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            tokio::spawn(async move {
                axum::serve(
                    l,
                    app(layered).into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap()
            });
            warm_rx.await.unwrap();
        });
        let info = allocation_counter::measure(|| rt.block_on(async { done_rx.await.unwrap() }));
        info.count_total
    });
    let addr = addr_rx.recv().unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    requests(&mut conn, 1000); // warm-up: buffers, the interned route, stats keys, rings
    warm_tx.send(()).unwrap();
    requests(&mut conn, n);
    // The last response is read, but its body may still be finishing on the server: one more
    // round-trip orders it before the end of the measurement.
    requests(&mut conn, 1);
    done_tx.send(()).unwrap();
    let count = server.join().unwrap();
    count as f64 / (n + 1) as f64
}

#[test]
fn at_most_one_allocation_added_per_request() {
    let n = 2000;
    let bare = per_request(Variant::Bare, n);
    let noop = per_request(Variant::NoopLayer, n);
    let layered = per_request(Variant::Spyglass, n);
    let added = layered - noop;
    println!(
        "server-thread allocations per request: bare {bare:.3}, no-op layer {noop:.3}, \
         SpyglassLayer {layered:.3}: {added:.3} more than any layer costs in axum"
    );
    // Any `Router::layer` costs axum two allocations per request (it boxes the cloned service and
    // its future); on top of that, SpyglassLayer adds one: axum boxes the wrapped response body.
    // The per-thread `traceparent` buffer is reused once its values are dropped (a fresh one only
    // when some are still held).
    assert!(
        added <= 1.0 + 0.005,
        "SpyglassLayer added {added:.3} allocations per request over a no-op layer \
         (bare {bare:.3}, no-op layer {noop:.3}, layered {layered:.3})"
    );
    // Every request was recorded.
    let snap = spyglass_dashboard::global()
        .stats()
        .snapshot(std::time::Duration::from_secs(900));
    let row = snap
        .requests
        .iter()
        .find(|r| r.route == "/users/{id}")
        .unwrap();
    assert_eq!(row.count, 1000 + n as u64 + 1);
}

/// The layer itself, driven directly as a tower `Service` (no axum router around it): it allocates
/// nothing per request in the steady state.
#[test]
fn the_service_itself_allocates_nothing_per_request() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use http_body::Body as _;
    use http_body_util::Full;
    use tower::{Layer, Service};

    let sg = spyglass_core::Spyglass::builder().build().unwrap();
    let inner = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
        let mut resp = http::Response::new(Full::new(bytes::Bytes::from_static(b"user")));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        Ok::<_, std::convert::Infallible>(resp)
    });
    let mut bare_inner = inner;
    let mut svc = spyglass_axum::SpyglassLayer::with_instance(sg.clone()).layer(inner);
    let mut cx = Context::from_waker(Waker::noop());
    let mut cx2 = Context::from_waker(Waker::noop());
    let mut one = || {
        let req = http::Request::new(Full::new(bytes::Bytes::from_static(b"")));
        let fut = pin!(Service::call(&mut svc, req));
        let Poll::Ready(Ok(resp)) = fut.poll(&mut cx) else {
            panic!("ready at once")
        };
        assert!(resp.headers().contains_key("traceparent"));
        let mut body = pin!(resp.into_body());
        while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {}
    };
    for _ in 0..2000 {
        one();
    }
    let n = 1000;
    let info = allocation_counter::measure(|| {
        for _ in 0..n {
            one();
        }
    });
    let bare = allocation_counter::measure(|| {
        for _ in 0..n {
            let fut = pin!(bare_inner.call(http::Request::new(Full::new(bytes::Bytes::new()))));
            let Poll::Ready(Ok(resp)) = fut.poll(&mut cx2) else {
                panic!("ready at once")
            };
            drop(resp);
        }
    });
    println!(
        "service alone: {} allocations for {n} requests (inner service: {})",
        info.count_total, bare.count_total
    );
    // At most a refill of the per-thread traceparent buffer (when values cut from it are still held).
    assert!(
        info.count_total <= bare.count_total + 2,
        "{info:?} vs {bare:?}"
    );
    let snap = sg.stats().snapshot(std::time::Duration::from_secs(60));
    assert_eq!(snap.requests[0].route, "<unmatched>");
    assert_eq!(snap.requests[0].count, 3000);
}

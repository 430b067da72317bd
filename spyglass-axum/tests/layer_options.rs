//! The layer's own options and edge cases, each with a private Spyglass instance (so these run in one
//! process too): exclusions, per-layer sampling, hooks, `.layer()` ordering, panics in `call`, and
//! bodies dropped before their end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use spyglass_axum::SpyglassLayer;
use spyglass_core::{EventKind, Spyglass};
use spyglass_http_suite::recorded::{count, instance, wait_count};
use spyglass_http_suite::App;

async fn serve(app: Router) -> App {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    App::new(addr)
}

#[tokio::test]
async fn layer_exclusions_take_exact_routes_and_prefixes() {
    let sg = Spyglass::builder().build().unwrap();
    let app = Router::new()
        .route("/internal/{x}", get(|| async { "i" }))
        .route("/health", get(|| async { "ok" }))
        .route("/users/{id}", get(|| async { "u" }))
        .layer(SpyglassLayer::with_instance(sg.clone()).exclude(["/internal/*", "/health"]));
    let app = serve(app).await;
    for p in ["/internal/a", "/internal/b", "/health", "/users/1"] {
        assert_eq!(app.get(p).await.status, 200);
    }
    wait_count(&sg, "/users/{id}", 1).await;
    assert_eq!(count(&sg, "/internal/{x}"), 0);
    assert_eq!(count(&sg, "/health"), 0);
    // Excluded requests pass untouched: no traceparent is added.
    assert!(app.get("/health").await.header("traceparent").is_none());
}

#[tokio::test]
async fn per_layer_sample_rate_keeps_stats_exact_and_errors_exported() {
    let (sg, mem) = instance();
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .layer(SpyglassLayer::with_instance(sg.clone()).sample(0.0));
    let app = serve(app).await;
    for _ in 0..40 {
        let a = app.get("/ok").await;
        assert!(
            a.header("traceparent").unwrap().ends_with("-00"),
            "unsampled flag"
        );
    }
    for _ in 0..5 {
        assert_eq!(app.get("/fail").await.status, 500);
    }
    wait_count(&sg, "/ok", 40).await;
    wait_count(&sg, "/fail", 5).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let reqs: Vec<_> = mem
        .events()
        .into_iter()
        .filter_map(|e| match &e.kind {
            EventKind::Req(r) => Some((r.route.to_string(), e.sampled)),
            _ => None,
        })
        .collect();
    assert_eq!(reqs.len(), 45, "metric exporters see every event");
    assert!(reqs.iter().filter(|r| r.0 == "/ok").all(|r| !r.1));
    assert!(
        reqs.iter().filter(|r| r.0 == "/fail").all(|r| r.1),
        "errors are always exported"
    );
}

#[tokio::test]
async fn hooks_see_requests_and_responses() {
    let sg = Spyglass::builder().build().unwrap();
    let seen_req = Arc::new(AtomicUsize::new(0));
    let seen_500 = Arc::new(AtomicUsize::new(0));
    let (r, s) = (seen_req.clone(), seen_500.clone());
    let layer = SpyglassLayer::with_instance(sg.clone())
        .on_request(
            move |req: &http::Request<axum::body::Body>,
                  ctx: &spyglass_core::TraceContext,
                  _: &mut spyglass_core::Labels| {
                assert!(req.uri().path().starts_with('/'));
                assert!(
                    ctx.parent_span_id().is_none(),
                    "a request without traceparent starts a trace"
                );
                r.fetch_add(1, Ordering::SeqCst);
            },
        )
        .on_response(
            move |res: &http::Response<axum::body::Body>,
                  _lat: Duration,
                  _ctx: &spyglass_core::TraceContext,
                  _: &mut spyglass_core::Labels| {
                if res.status().is_server_error() {
                    s.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .route("/e", get(|| async { StatusCode::BAD_GATEWAY }))
        .layer(layer);
    let app = serve(app).await;
    app.get("/a").await;
    app.get("/e").await;
    app.get("/e").await;
    // Dashboard requests are not the app's: no hooks.
    app.get("/_spyglass/api/stats").await;
    assert_eq!(seen_req.load(Ordering::SeqCst), 3);
    assert_eq!(seen_500.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fallback_added_after_the_layer_hides_the_dashboard() {
    let sg = Spyglass::builder().build().unwrap();
    let misordered = Router::new()
        .route("/a", get(|| async { "a" }))
        .layer(SpyglassLayer::with_instance(sg.clone()))
        .fallback(|| async { (StatusCode::NOT_FOUND, "app fallback") });
    let app = serve(misordered).await;
    let a = app.get("/_spyglass").await;
    assert_eq!(
        a.status, 404,
        "documented: the dashboard is served through the wrapped fallback"
    );
    assert_eq!(a.text(), "app fallback");

    let ordered = Router::new()
        .route("/a", get(|| async { "a" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "app fallback") })
        .layer(SpyglassLayer::with_instance(sg.clone()));
    let app = serve(ordered).await;
    assert_eq!(app.get("/_spyglass").await.status, 200);
    assert_eq!(app.get("/nothing").await.text(), "app fallback");
    wait_count(&sg, "<unmatched>", 1).await;
}

#[tokio::test]
async fn a_panic_in_call_becomes_a_500_and_dropped_bodies_are_recorded() {
    use http_body_util::Full;
    use tower::{Layer, Service, ServiceExt};

    #[derive(Clone)]
    struct PanicsInCall;
    impl Service<http::Request<Full<bytes::Bytes>>> for PanicsInCall {
        type Response = http::Response<Full<bytes::Bytes>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: http::Request<Full<bytes::Bytes>>) -> Self::Future {
            if req.uri().path() == "/boom" {
                panic!("synchronous boom");
            }
            std::future::ready(Ok(http::Response::new(Full::new(
                bytes::Bytes::from_static(b"hello"),
            ))))
        }
    }

    let sg = Spyglass::builder().build().unwrap();
    let svc = SpyglassLayer::with_instance(sg.clone()).layer(PanicsInCall);
    let req = |p: &str| {
        http::Request::builder()
            .uri(p)
            .body(Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let resp = svc.clone().oneshot(req("/boom")).await.unwrap();
    assert_eq!(resp.status(), 500);
    assert!(resp.headers().contains_key("traceparent"));
    drop(resp);
    // A response whose body is dropped unread (client gone) is still recorded, with the bytes sent.
    let resp = svc.clone().oneshot(req("/fine")).await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    let row = &snap.requests[0];
    assert_eq!(row.route, "<unmatched>");
    assert_eq!(row.count, 2);
    assert_eq!(row.errors, 1);
    assert_eq!(row.bytes_out, 0);
    assert!(sg.flush(Duration::from_secs(10)));
    let err = &sg.recent().errors(1)[0];
    assert_eq!(err.error_text(), Some("synchronous boom"));
}

#[tokio::test]
async fn route_from_path_names_routes_of_services_without_matched_path() {
    use http_body_util::Full;
    use tower::{Layer, ServiceExt};

    let sg = Spyglass::builder().build().unwrap();
    let grpc_like = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
            bytes::Bytes::from_static(b"ok"),
        )))
    });
    let svc = SpyglassLayer::with_instance(sg.clone())
        .route_from_path()
        .exclude(["/grpc.health.v1.Health/Check"])
        .layer(grpc_like);
    for path in [
        "/shop.Users/Get",
        "/shop.Users/Get",
        "/grpc.health.v1.Health/Check",
    ] {
        let req = http::Request::builder()
            .uri(path)
            .body(Full::new(bytes::Bytes::new()))
            .unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        drop(resp);
    }
    assert_eq!(count(&sg, "/shop.Users/Get"), 2);
    assert_eq!(count(&sg, "/grpc.health.v1.Health/Check"), 0);
}

/// A request whose response future is dropped before the response (an outer timeout gave up, or
/// the client went away) is recorded once, as cancelled, under its route, with the labels its
/// `on_request` hook set; one whose `on_response` hook panics is answered and recorded as a 500
/// with the panic message, as a panicking handler is.
#[tokio::test]
async fn dropped_requests_and_panicking_hooks_are_still_recorded() {
    use tower::ServiceExt;

    let (sg, mem) = instance();
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                std::future::pending::<()>().await; // a handler that never answers
                "never"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(
            SpyglassLayer::with_instance(sg.clone())
                .on_request(
                    |_: &http::Request<axum::body::Body>,
                     _: &spyglass_core::TraceContext,
                     l: &mut spyglass_core::Labels| {
                        l.insert("tenant", "acme");
                    },
                )
                .on_response(
                    |resp: &http::Response<axum::body::Body>,
                     _: Duration,
                     _: &spyglass_core::TraceContext,
                     _: &mut spyglass_core::Labels| {
                        if resp.status() == StatusCode::OK {
                            panic!("hook boom");
                        }
                    },
                ),
        );
    let req = |p: &str| {
        http::Request::builder()
            .uri(p)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    for _ in 0..3 {
        let timed_out =
            tokio::time::timeout(Duration::from_millis(20), app.clone().oneshot(req("/slow")))
                .await;
        assert!(timed_out.is_err(), "the handler never answers");
    }
    let hooked = app.clone().oneshot(req("/ok")).await.unwrap();
    assert_eq!(hooked.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(hooked.headers().contains_key("traceparent"));
    drop(hooked); // the request is recorded when its body is done with
    wait_count(&sg, "/slow", 3).await;
    wait_count(&sg, "/ok", 1).await;
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    let slow = snap.requests.iter().find(|r| r.route == "/slow").unwrap();
    assert_eq!(slow.errors, 0, "no status was sent: not a server error");
    assert!(sg.flush(Duration::from_secs(10)));
    let events = mem.events();
    let statuses: Vec<(String, u16)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Req(r) => Some((r.route.to_string(), r.status)),
            _ => None,
        })
        .collect();
    assert!(
        events.iter().all(|e| match &e.kind {
            EventKind::Req(r) => r.labels.get("tenant") == Some("acme"),
            _ => true,
        }),
        "cancelled requests and the one whose on_response panicked keep on_request's labels"
    );
    let slow: Vec<_> = statuses.iter().filter(|s| s.0 == "/slow").collect();
    assert_eq!(slow.len(), 3, "{statuses:?}");
    assert!(slow
        .iter()
        .all(|s| s.1 == spyglass_dashboard::CANCELLED_STATUS));
    assert!(statuses.contains(&("/ok".to_string(), 500)), "{statuses:?}");
    let hook_error = events.iter().find_map(|e| match &e.kind {
        EventKind::Req(r) if r.route.as_str() == "/ok" => r.error.clone(),
        _ => None,
    });
    assert_eq!(hook_error.as_deref(), Some("hook boom"));
}

/// Over real HTTP from 127.0.0.1: the dashboard's loopback exemption holds only for a request that
/// names the server as localhost or by address (not a rebound DNS name) and did not come through a
/// proxy on this host.
#[tokio::test]
async fn loopback_requests_under_a_foreign_host_name_or_through_a_proxy_need_the_token() {
    let sg = Spyglass::builder()
        .dashboard_token("s3cret")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(SpyglassLayer::with_instance(sg.clone()));
    let app = serve(app).await;
    let stats = "/_spyglass/api/stats";
    let a = app
        .send(
            app.req(reqwest::Method::GET, stats)
                .header("host", "localhost:3000"),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(app.get(stats).await.status, 200);

    let rebound = app
        .req(reqwest::Method::GET, stats)
        .header("host", "evil.example:3000");
    let a = app.send(rebound).await;
    assert_eq!(a.status, 403);
    assert!(
        a.text().contains("DNS rebinding") || a.text().contains("host name"),
        "{}",
        a.text()
    );
    let rebound = app
        .req(reqwest::Method::GET, stats)
        .header("host", "evil.example:3000")
        .bearer_auth("s3cret");
    assert_eq!(app.send(rebound).await.status, 200);

    let proxied = app
        .req(reqwest::Method::GET, stats)
        .header("x-forwarded-for", "203.0.113.9");
    let a = app.send(proxied).await;
    assert_eq!(a.status, 403);
    assert!(a.text().contains("through a proxy"), "{}", a.text());
    let proxied = app
        .req(reqwest::Method::GET, stats)
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth("s3cret");
    assert_eq!(app.send(proxied).await.status, 200);
    // The app's own routes are not affected.
    let a = app
        .send(
            app.req(reqwest::Method::GET, "/")
                .header("host", "evil.example"),
        )
        .await;
    assert_eq!((a.status, a.text().as_str()), (200, "home"));
}

/// A response body that panics while streaming: the status is decided already, so the client sees
/// the connection closed; the request is recorded as an error with the panic's message, and the server keeps
/// serving.
#[tokio::test]
async fn a_body_that_panics_while_streaming_is_recorded_as_an_error() {
    use futures_util::{stream, StreamExt};

    let sg = Spyglass::builder().build().unwrap();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async {
                let chunks = stream::iter([0u8, 1]).map(|i| {
                    if i == 1 {
                        panic!("the stream broke at chunk {i}");
                    }
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(b"first chunk"))
                });
                axum::body::Body::from_stream(chunks)
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(SpyglassLayer::with_instance(sg.clone()));
    let app = serve(app).await;
    let answer = app
        .raw(b"GET /stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec())
        .await;
    // hyper had not written the head and the first chunk yet when the task unwound: the client
    // sees the connection closed, never a complete response.
    assert!(!answer.ends_with("0\r\n\r\n"), "{answer}");
    assert_eq!(app.get("/ok").await.text(), "ok");
    wait_count(&sg, "/stream", 1).await;
    let row = spyglass_http_suite::recorded::row(&sg, "/stream");
    assert_eq!(row.errors, 1);
    assert_eq!(row.bytes_out, 11);
    assert!(sg.flush(Duration::from_secs(10)));
    let err = &sg.recent().errors(1)[0];
    assert_eq!(err.error_text(), Some("the stream broke at chunk 1"));
}

/// HTTP/2 carries the host as `:authority`, not as a `Host` header: the layer hands it to the
/// dashboard's access rule, so a rebound name is refused over HTTP/2 too (h2c over loopback).
#[tokio::test]
async fn over_http2_the_authority_is_the_host_checked() {
    let sg = Spyglass::builder().build().unwrap();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(SpyglassLayer::with_instance(sg.clone()));
    let addr = serve(app).await.addr();
    let status = |authority: &'static str| async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client.ready().await.unwrap();
        let req = http::Request::get(format!("http://{authority}/_spyglass/api/stats"))
            .body(())
            .unwrap();
        assert!(!req.headers().contains_key("host"));
        let (resp, _) = client.send_request(req, true).unwrap();
        resp.await.expect("a response").status().as_u16()
    };
    assert_eq!(status("localhost:3000").await, 200);
    assert_eq!(status("127.0.0.1:3000").await, 200);
    assert_eq!(status("evil.example:3000").await, 403);
}

/// A service mounted with `Router::nest_service` gets no `MatchedPath` from axum: by default its
/// requests are `<unmatched>`, and with `nested_services` they are recorded under `{prefix}/*`,
/// its own 404s included, while the fallback stays `<unmatched>`.
#[tokio::test]
async fn nested_services_are_recorded_under_their_prefix() {
    let files = get(|uri: http::Uri| async move {
        // Nested services see the path below their prefix.
        if uri.path() == "/app.js" {
            (StatusCode::OK, "console.log(1)")
        } else {
            (StatusCode::NOT_FOUND, "no such file")
        }
    });
    let app = |layer: SpyglassLayer| {
        Router::new()
            .route("/users/{id}", get(|| async { "u" }))
            .nest_service("/static", files.clone())
            .fallback(|| async { (StatusCode::NOT_FOUND, "nothing here") })
            .layer(layer)
    };
    let sg = Spyglass::builder().build().unwrap();
    let served = serve(app(
        SpyglassLayer::with_instance(sg.clone()).nested_services(["/static/"])
    ))
    .await;
    assert_eq!(served.get("/static/app.js").await.status, 200);
    assert_eq!(served.get("/static/gone.css").await.status, 404);
    assert_eq!(served.get("/statics").await.status, 404);
    assert_eq!(served.get("/nope").await.status, 404);
    wait_count(&sg, "/static/*", 2).await;
    wait_count(&sg, spyglass_axum::UNMATCHED, 2).await;

    // Without the option, the nested service's requests are `<unmatched>` too.
    let sg = Spyglass::builder().build().unwrap();
    let served = serve(app(SpyglassLayer::with_instance(sg.clone()))).await;
    assert_eq!(served.get("/static/app.js").await.status, 200);
    wait_count(&sg, spyglass_axum::UNMATCHED, 1).await;
}

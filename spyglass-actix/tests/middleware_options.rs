//! The middleware's own options and actix-specific edge cases, over real loopback HTTP, each with a
//! private Spyglass instance: exclusions, per-middleware sampling, hooks, scopes, streamed bodies
//! (duration until the last chunk, clients that leave early), chunked uploads, panics in `call`, in
//! the handler and in `on_response` on a single worker, errors from inner middlewares,
//! `/_spyglass/metrics`, and `dashboard(false)`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Service as _;
use actix_web::{web, App, HttpResponse, HttpServer};
use spyglass_actix::Spyglass as Middleware;
use spyglass_core::Spyglass;
use spyglass_http_suite::recorded::{count, instance, req_events, row, wait_count};
use spyglass_http_suite::{eventually, App as Client};

/// Serves the app made by `$factory` on its own thread and actix system; yields the client.
macro_rules! serve {
    ($workers:expr, $factory:expr) => {{
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let factory = $factory;
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(factory)
                    .workers($workers)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                    .unwrap();
                tx.send(server.addrs()[0]).unwrap();
                server.run().await.unwrap();
            })
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        (Client::new(addr), addr)
    }};
}

#[tokio::test]
async fn exclusions_take_exact_routes_and_prefixes_and_scopes_keep_their_prefix() {
    let sg = Spyglass::builder().build().unwrap();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route("/internal/{x}", web::get().to(|| async { "i" }))
            .route("/health", web::get().to(|| async { "ok" }))
            .service(web::scope("/api").route("/items/{id}", web::get().to(|| async { "item" })))
            .wrap(Middleware::with_instance(s.clone()).exclude(["/internal/*", "/health"]))
    });
    for p in ["/internal/a", "/internal/b", "/health", "/api/items/7"] {
        assert_eq!(app.get(p).await.status, 200, "{p}");
    }
    wait_count(&sg, "/api/items/{id}", 1).await;
    assert_eq!(count(&sg, "/internal/{x}"), 0);
    assert_eq!(count(&sg, "/health"), 0);
    // Excluded requests pass untouched: no traceparent is added.
    assert!(app.get("/health").await.header("traceparent").is_none());
    assert!(app
        .get("/api/items/8")
        .await
        .header("traceparent")
        .is_some());
}

#[tokio::test]
async fn per_middleware_sample_rate_keeps_stats_exact_and_errors_exported() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route("/ok", web::get().to(|| async { "ok" }))
            .route(
                "/fail",
                web::get().to(|| async { HttpResponse::InternalServerError().body("no") }),
            )
            .wrap(Middleware::with_instance(s.clone()).sample(0.0))
    });
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
    let reqs = req_events(&mem);
    assert_eq!(reqs.len(), 45, "metric exporters see every event");
    assert!(reqs
        .iter()
        .filter(|r| r.1.route == "/ok")
        .all(|r| !r.0.sampled));
    assert!(
        reqs.iter()
            .filter(|r| r.1.route == "/fail")
            .all(|r| r.0.sampled),
        "errors are always exported"
    );
}

#[tokio::test]
async fn hooks_see_requests_and_responses_but_not_the_dashboard() {
    let sg = Spyglass::builder().build().unwrap();
    let seen_req = Arc::new(AtomicUsize::new(0));
    let seen_5xx = Arc::new(AtomicUsize::new(0));
    let traces = Arc::new(Mutex::new(Vec::<String>::new()));
    let (s, r, e, t) = (
        sg.clone(),
        seen_req.clone(),
        seen_5xx.clone(),
        traces.clone(),
    );
    let (app, _) = serve!(1, move || {
        let (r, e, t) = (r.clone(), e.clone(), t.clone());
        App::new()
            .route("/a", web::get().to(|| async { "a" }))
            .route("/e", web::get().to(HttpResponse::BadGateway))
            .wrap(
                Middleware::with_instance(s.clone())
                    .on_request(
                        move |req: &actix_web::dev::ServiceRequest,
                              ctx: &spyglass_core::TraceContext,
                              _: &mut spyglass_core::Labels| {
                            assert!(req.path().starts_with('/'));
                            assert!(
                                ctx.parent_span_id().is_none(),
                                "no traceparent: a new trace"
                            );
                            r.fetch_add(1, Ordering::SeqCst);
                        },
                    )
                    .on_response(
                        move |res: &actix_web::dev::ServiceResponse<_>,
                              _latency: Duration,
                              ctx: &spyglass_core::TraceContext,
                              _: &mut spyglass_core::Labels| {
                            if res.status().is_server_error() {
                                e.fetch_add(1, Ordering::SeqCst);
                            }
                            t.lock().unwrap().push(ctx.trace_id().to_string());
                        },
                    ),
            )
    });
    let a = app.get("/a").await;
    app.get("/e").await;
    app.get("/e").await;
    // Dashboard requests are not the app's: no hooks.
    assert_eq!(app.get("/_spyglass/api/stats").await.status, 200);
    assert_eq!(seen_req.load(Ordering::SeqCst), 3);
    assert_eq!(seen_5xx.load(Ordering::SeqCst), 2);
    let tp = a.header("traceparent").unwrap();
    let first = traces.lock().unwrap()[0].clone();
    assert_eq!(&tp[3..35], first, "the hook sees the request's own context");
}

/// A body streamed in three chunks 40 ms apart: recorded when the last chunk is sent, with every
/// byte, while the response head was ready at once.
#[tokio::test]
async fn streamed_bodies_are_timed_to_their_end_and_counted_whole() {
    let (sg, mem) = instance();
    let head_latency = Arc::new(Mutex::new(Duration::ZERO));
    let (s, h) = (sg.clone(), head_latency.clone());
    let (app, _) = serve!(1, move || {
        let h = h.clone();
        App::new()
            .route(
                "/stream",
                web::get().to(|| async {
                    let chunks = futures_util::stream::unfold(0u8, |i| async move {
                        if i == 3 {
                            return None;
                        }
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(40)).await;
                        }
                        Some((
                            Ok::<_, std::io::Error>(web::Bytes::from(vec![b'x'; 1000])),
                            i + 1,
                        ))
                    });
                    HttpResponse::Ok().streaming(chunks)
                }),
            )
            .wrap(Middleware::with_instance(s.clone()).on_response(
                move |_: &actix_web::dev::ServiceResponse<_>,
                      latency: Duration,
                      _: &spyglass_core::TraceContext,
                      _: &mut spyglass_core::Labels| {
                    *h.lock().unwrap() = latency;
                },
            ))
    });
    let a = app.get("/stream").await;
    assert_eq!(a.body.len(), 3000);
    wait_count(&sg, "/stream", 1).await;
    assert_eq!(row(&sg, "/stream").bytes_out, 3000);
    assert!(sg.flush(Duration::from_secs(10)));
    let (ev, _) = req_events(&mem).pop().expect("the request event");
    let head = *head_latency.lock().unwrap();
    assert!(
        ev.dur_ns >= 80_000_000,
        "recorded at the body's end: {} ns",
        ev.dur_ns
    );
    assert!(
        (head.as_nanos() as u64) < ev.dur_ns,
        "the head ({head:?}) came before the body's end ({} ns)",
        ev.dur_ns
    );
}

/// A client that leaves in the middle of an endless body: the request is still recorded once, with
/// the bytes that were sent.
#[tokio::test]
async fn a_client_leaving_mid_body_is_recorded() {
    let sg = Spyglass::builder().build().unwrap();
    let s = sg.clone();
    let (_, addr) = serve!(1, move || {
        App::new()
            .route(
                "/endless",
                web::get().to(|| async {
                    // Endless, held back only by the socket: each chunk yields to the runtime
                    // first so the worker keeps serving.
                    let chunks = futures_util::stream::unfold((), |()| async {
                        tokio::task::yield_now().await;
                        Some((
                            Ok::<_, std::io::Error>(web::Bytes::from_static(b"tick\n")),
                            (),
                        ))
                    });
                    HttpResponse::Ok().streaming(chunks)
                }),
            )
            .wrap(Middleware::with_instance(s.clone()))
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET /endless HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    read_until(&mut conn, |got| {
        String::from_utf8_lossy(got).contains("tick")
    });
    drop(conn);
    wait_count(&sg, "/endless", 1).await;
    let r = row(&sg, "/endless");
    assert!(r.bytes_out >= 5, "{r:?}");
    assert_eq!(r.errors, 0);
}

/// Bodies without `Content-Length` are counted as they stream; declared lengths are taken as is.
#[tokio::test]
async fn chunked_uploads_are_counted_as_they_stream() {
    let sg = Spyglass::builder().build().unwrap();
    let s = sg.clone();
    let (app, addr) = serve!(1, move || {
        App::new()
            .route(
                "/echo",
                web::post().to(|body: web::Bytes| async move { body }),
            )
            .wrap(Middleware::with_instance(s.clone()))
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(
        b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
          400\r\n",
    )
    .unwrap();
    conn.write_all(&[b'a'; 0x400]).unwrap();
    conn.write_all(b"\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n")
        .unwrap();
    let got = read_until(&mut conn, |got| got.ends_with(b"0123456789abcdef"));
    assert!(got.starts_with(b"HTTP/1.1 200"));
    let a = app
        .send(
            app.req(reqwest::Method::POST, "/echo")
                .body(vec![b'z'; 777]),
        )
        .await;
    assert_eq!(a.body.len(), 777);
    wait_count(&sg, "/echo", 2).await;
    let r = row(&sg, "/echo");
    assert_eq!(r.bytes_in, 1024 + 16 + 777);
    assert_eq!(r.bytes_out, 1024 + 16 + 777);
}

/// Panics in the handler and in an inner middleware's `call`, on a single worker: each becomes a 500
/// with a `traceparent` and its message recorded under the right route, and the worker serves on.
#[tokio::test]
async fn panics_anywhere_inside_become_500s_and_the_only_worker_serves_on() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route("/ok", web::get().to(|| async { "ok" }))
            .route(
                "/boom/{n}",
                web::get().to(|n: web::Path<u32>| async move {
                    tokio::task::yield_now().await;
                    if *n < 1000 {
                        panic!("handler boom {}", n.into_inner());
                    }
                    "never"
                }),
            )
            .route("/early", web::get().to(|| async { "never" }))
            .wrap_fn(|req, srv| {
                if req.path() == "/early" {
                    panic!("panic in call, before any future");
                }
                srv.call(req)
            })
            .wrap(Middleware::with_instance(s.clone()))
    });
    for i in 0..20 {
        let a = app.get(&format!("/boom/{i}")).await;
        assert_eq!(a.status, 500);
        assert_eq!(a.text(), "Internal Server Error");
        assert!(a.header("traceparent").is_some());
        assert_eq!(app.get("/ok").await.status, 200);
    }
    let early = app.get("/early").await;
    assert_eq!(early.status, 500);
    assert!(early.header("traceparent").is_some());
    assert_eq!(app.get("/ok").await.status, 200);
    wait_count(&sg, "/boom/{n}", 20).await;
    wait_count(&sg, "/early", 1).await;
    wait_count(&sg, "/ok", 21).await;
    assert_eq!(row(&sg, "/boom/{n}").errors, 20);
    assert_eq!(row(&sg, "/early").errors, 1);
    assert!(sg.flush(Duration::from_secs(10)));
    let reqs = req_events(&mem);
    let boom: Vec<_> = reqs.iter().filter(|r| r.1.route == "/boom/{n}").collect();
    assert_eq!(boom.len(), 20, "{reqs:?}");
    assert!(boom
        .iter()
        .all(|r| r.1.status == 500 && r.1.error.as_deref().unwrap().starts_with("handler boom")));
    let early = reqs.iter().find(|r| r.1.route == "/early").unwrap();
    assert_eq!(
        early.1.error.as_deref(),
        Some("panic in call, before any future")
    );
}

/// An `on_response` hook that panics, on a single worker: the handler's response is dropped and a
/// 500 with a `traceparent` answers instead, recorded under the route with the panic message (not
/// as the handler's 200), and the worker serves on.
#[tokio::test]
async fn a_panicking_on_response_hook_is_a_500_and_the_only_worker_serves_on() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route("/a", web::get().to(|| async { "a" }))
            .route("/boom", web::get().to(|| async { "handler answer" }))
            .wrap(Middleware::with_instance(s.clone()).on_response(
                |res: &actix_web::dev::ServiceResponse<_>,
                 _: Duration,
                 _: &spyglass_core::TraceContext,
                 l: &mut spyglass_core::Labels| {
                    l.insert("hook", "ran");
                    if res.request().path() == "/boom" {
                        panic!("response hook boom");
                    }
                },
            ))
    });
    let boom = app.get("/boom").await;
    assert_eq!(boom.status, 500);
    assert_eq!(boom.text(), "Internal Server Error");
    let tp = boom
        .header("traceparent")
        .expect("the 500 carries a traceparent");
    assert!(
        spyglass_core::TraceContext::from_traceparent(tp.as_bytes()).is_ok(),
        "{tp}"
    );
    let a = app.get("/a").await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, "a"),
        "the worker serves on"
    );
    wait_count(&sg, "/boom", 1).await;
    wait_count(&sg, "/a", 1).await;
    assert_eq!(row(&sg, "/boom").errors, 1);
    assert!(sg.flush(Duration::from_secs(10)));
    let reqs = req_events(&mem);
    let (ev, boom) = reqs
        .iter()
        .find(|r| r.1.route == "/boom")
        .unwrap_or_else(|| panic!("{reqs:?}"));
    assert_eq!(boom.status, 500);
    assert_eq!(boom.error.as_deref(), Some("response hook boom"));
    assert_eq!(boom.bytes_out, "Internal Server Error".len() as u64);
    assert_eq!(
        boom.labels.get("hook"),
        Some("ran"),
        "what the hook set before it panicked is kept"
    );
    assert_eq!(&tp[3..35], ev.trace_id.to_string(), "the request's trace");
}

/// The error type of the inner middleware of
/// [`errors_from_inner_middlewares_pass_on_unchanged_and_are_recorded_with_their_status`].
#[derive(Debug)]
struct Denied(actix_web::http::StatusCode);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_server_error() {
            "maintenance"
        } else {
            "forbidden"
        })
    }
}

impl actix_web::ResponseError for Denied {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0
    }
}

/// An inner middleware that fails without a response: its error passes on unchanged (an outer
/// middleware downcasts it), and the request is recorded with the error's status and, for a 5xx,
/// its text, keeping `on_request`'s labels. The response actix makes of the error is not counted.
#[tokio::test]
async fn errors_from_inner_middlewares_pass_on_unchanged_and_are_recorded_with_their_status() {
    let (sg, mem) = instance();
    let seen = Arc::new(Mutex::new(Vec::<u16>::new()));
    let (s, seen2) = (sg.clone(), seen.clone());
    let (app, _) = serve!(1, move || {
        let seen = seen2.clone();
        App::new()
            .route("/guarded/{x}", web::get().to(|| async { "in" }))
            .wrap_fn(|req, srv| {
                let status = match req.path() {
                    p if p.ends_with("/deny") => {
                        Some(actix_web::http::StatusCode::SERVICE_UNAVAILABLE)
                    }
                    p if p.ends_with("/forbid") => Some(actix_web::http::StatusCode::FORBIDDEN),
                    _ => None,
                };
                let fut = srv.call(req);
                async move {
                    match status {
                        Some(s) => Err(Denied(s).into()),
                        None => fut.await,
                    }
                }
            })
            .wrap(Middleware::with_instance(s.clone()).on_request(
                |_: &actix_web::dev::ServiceRequest,
                 _: &spyglass_core::TraceContext,
                 l: &mut spyglass_core::Labels| {
                    l.insert("tenant", "acme");
                },
            ))
            // Around Spyglass: sees what Spyglass hands on.
            .wrap_fn(move |req, srv| {
                let seen = seen.clone();
                let fut = srv.call(req);
                async move {
                    let out = fut.await;
                    if let Err(e) = &out {
                        let denied = e
                            .as_error::<Denied>()
                            .unwrap_or_else(|| panic!("the inner error, unwrapped: {e:?}"));
                        seen.lock().unwrap().push(denied.0.as_u16());
                    }
                    out
                }
            })
    });
    let denied = app.get("/guarded/deny").await;
    assert_eq!(
        (denied.status, denied.text().as_str()),
        (503, "maintenance")
    );
    let forbidden = app.get("/guarded/forbid").await;
    assert_eq!(
        (forbidden.status, forbidden.text().as_str()),
        (403, "forbidden")
    );
    assert_eq!(app.get("/guarded/ok").await.status, 200);
    assert_eq!(
        *seen.lock().unwrap(),
        [503, 403],
        "the outer middleware saw `Denied`"
    );
    wait_count(&sg, "/guarded/{x}", 3).await;
    let r = row(&sg, "/guarded/{x}");
    assert_eq!(r.errors, 1, "the 503; a 403 is not an error");
    assert_eq!(
        r.bytes_out,
        "in".len() as u64,
        "the error's response is not counted"
    );
    assert!(sg.flush(Duration::from_secs(10)));
    let mut reqs: Vec<_> = req_events(&mem)
        .into_iter()
        .map(|(_, r)| {
            (
                r.status,
                r.error.as_deref().map(str::to_owned),
                r.labels.get("tenant").map(str::to_owned),
            )
        })
        .collect();
    reqs.sort();
    let acme = || Some("acme".to_owned());
    assert_eq!(
        reqs,
        [
            (200, None, acme()),
            (403, None, acme()),
            (503, Some("maintenance".to_owned()), acme()),
        ],
        "recorded with the error's status and 5xx text, keeping on_request's labels"
    );
}

/// `/_spyglass/metrics` serves the Prometheus exporter's exposition through the dashboard crate.
#[tokio::test]
async fn metrics_are_served_when_prometheus_is_enabled() {
    let sg = Spyglass::builder()
        .exporter(spyglass_exporters::PrometheusExporter::new())
        .flush_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route("/users/{id}", web::get().to(|| async { "u" }))
            .wrap(Middleware::with_instance(s.clone()))
    });
    for i in 0..3 {
        app.get(&format!("/users/{i}")).await;
    }
    let text = eventually(|| async {
        let m = app.get("/_spyglass/metrics").await;
        assert_eq!(m.status, 200);
        assert!(m.header("content-type").unwrap().starts_with("text/plain"));
        let t = m.text();
        t.contains(
            r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}"} 3"#,
        )
        .then_some(t)
    })
    .await;
    assert!(
        text.is_some(),
        "{}",
        app.get("/_spyglass/metrics").await.text()
    );
}

/// `dashboard(false)`: `/_spyglass` falls through to the app, whose default service answers.
#[tokio::test]
async fn dashboard_can_be_left_to_the_app() {
    let sg = Spyglass::builder().build().unwrap();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route(
                "/_spyglass/mine",
                web::get().to(|| async { "the app's own" }),
            )
            .wrap(Middleware::with_instance(s.clone()).dashboard(false))
    });
    assert_eq!(app.get("/_spyglass").await.status, 404);
    let own = app.get("/_spyglass/mine").await;
    assert_eq!(own.text(), "the app's own");
    wait_count(&sg, "<unmatched>", 1).await;
    wait_count(&sg, "/_spyglass/mine", 1).await;
}

/// A body stream that panics after its first chunk: the response is cut short (actix drops the
/// connection: the client sees an incomplete message), the panic is recorded as the request's error,
/// and the only worker serves on.
#[tokio::test]
async fn a_body_that_panics_mid_stream_is_recorded_as_an_error() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route(
                "/stream-panic",
                web::get().to(|| async {
                    let chunks = futures_util::stream::unfold(0u8, |i| async move {
                        if i == 1 {
                            panic!("body stream exploded");
                        }
                        Some((
                            Ok::<_, std::io::Error>(web::Bytes::from_static(b"first\n")),
                            i + 1,
                        ))
                    });
                    HttpResponse::Ok().streaming(chunks)
                }),
            )
            .route("/ok", web::get().to(|| async { "ok" }))
            .wrap(Middleware::with_instance(s.clone()))
    });
    // Head and first chunk may or may not leave before the connection drops.
    match app.req(reqwest::Method::GET, "/stream-panic").send().await {
        Ok(resp) => assert!(resp.bytes().await.is_err(), "the body is cut short"),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    assert_eq!(app.get("/ok").await.status, 200);
    wait_count(&sg, "/stream-panic", 1).await;
    assert_eq!(row(&sg, "/stream-panic").errors, 1);
    assert!(sg.flush(Duration::from_secs(10)));
    let (_, ev) = req_events(&mem)
        .into_iter()
        .find(|r| r.1.route == "/stream-panic")
        .unwrap();
    assert_eq!(ev.error.as_deref(), Some("body stream exploded"));
    assert_eq!(ev.bytes_out, 6);
}

/// A request whose response future is dropped before the response (here by an outer timeout) is
/// recorded once, as cancelled, under its route: status 499, not an error.
#[tokio::test]
async fn requests_dropped_before_their_response_are_recorded_as_cancelled() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route(
                "/slow/{n}",
                web::get().to(|| async {
                    std::future::pending::<()>().await; // a handler that never answers
                    "never"
                }),
            )
            .wrap(Middleware::with_instance(s.clone()))
            .wrap_fn(|req, srv| {
                let fut = srv.call(req);
                async move {
                    match tokio::time::timeout(Duration::from_millis(20), fut).await {
                        Ok(r) => r,
                        Err(_) => Err(actix_web::error::ErrorRequestTimeout("gave up")),
                    }
                }
            })
    });
    for i in 0..3 {
        assert_eq!(app.get(&format!("/slow/{i}")).await.status, 408);
    }
    wait_count(&sg, "/slow/{n}", 3).await;
    assert_eq!(row(&sg, "/slow/{n}").errors, 0);
    assert!(sg.flush(Duration::from_secs(10)));
    let reqs = req_events(&mem);
    let slow: Vec<u16> = reqs
        .iter()
        .filter(|r| r.1.route == "/slow/{n}")
        .map(|r| r.1.status)
        .collect();
    assert_eq!(slow, [spyglass_dashboard::CANCELLED_STATUS; 3], "{reqs:?}");
}

/// With exclusions configured (the README's `exclude_routes(["/health"])`, and `<unmatched>`), the
/// route is still the one routing chose: behind `NormalizePath::trim()` a trailing slash reaches
/// its resource and is recorded under it, `/health/` is excluded like `/health`, a resource refused
/// by its guard is not named, and an unmatched path goes unrecorded, all without a `traceparent`
/// for the excluded ones.
#[tokio::test]
async fn exclusions_leave_the_route_to_routing_behind_normalize_path_and_guards() {
    use actix_web::middleware::NormalizePath;
    let mem = spyglass_core::export::InMemoryExporter::new();
    let sg = Spyglass::builder()
        .exclude_routes(["/health"])
        .exporter(mem.clone())
        .flush_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .route("/health", web::get().to(|| async { "ok" }))
            .service(
                web::resource("/items/special")
                    .guard(actix_web::guard::Header("x-special", "1"))
                    .route(web::get().to(|| async { "special" })),
            )
            .route("/items/{id}", web::get().to(|| async { "item" }))
            .wrap(NormalizePath::trim())
            .wrap(Middleware::with_instance(s.clone()).exclude(["<unmatched>"]))
    });
    let user = app.get("/users/1/").await;
    assert_eq!((user.status, user.text().as_str()), (200, "user"));
    assert!(user.header("traceparent").is_some());
    for p in ["/health/", "/health"] {
        let a = app.get(p).await;
        assert_eq!((a.status, a.text().as_str()), (200, "ok"), "{p}");
        assert!(a.header("traceparent").is_none(), "{p} is excluded");
    }
    let other = app.get("/items/special").await;
    assert_eq!(
        other.text(),
        "item",
        "the guard refuses: /items/{{id}} answers"
    );
    let special = app
        .send(
            app.req(reqwest::Method::GET, "/items/special/")
                .header("x-special", "1"),
        )
        .await;
    assert_eq!(special.text(), "special");
    let nowhere = app.get("/nowhere/").await;
    assert_eq!(nowhere.status, 404);
    assert!(
        nowhere.header("traceparent").is_none(),
        "<unmatched> is excluded"
    );
    wait_count(&sg, "/users/{id}", 1).await;
    wait_count(&sg, "/items/{id}", 1).await;
    wait_count(&sg, "/items/special", 1).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let mut routes: Vec<String> = req_events(&mem)
        .into_iter()
        .map(|r| format!("{} {}", r.1.status, r.1.route))
        .collect();
    routes.sort();
    println!("recorded: {routes:?}");
    assert_eq!(
        routes,
        ["200 /items/special", "200 /items/{id}", "200 /users/{id}"],
        "nothing else recorded"
    );
}

/// A 5xx that actix built from a handler's or an extractor's `Err` (it keeps the error on the
/// response) is recorded with the error's text, as an inner middleware's `Err` is; a 4xx error is
/// not an error.
#[tokio::test]
async fn errors_of_handlers_and_extractors_are_recorded_with_their_text() {
    struct Database;
    impl actix_web::FromRequest for Database {
        type Error = actix_web::Error;
        type Future = std::future::Ready<Result<Self, Self::Error>>;
        fn from_request(
            _: &actix_web::HttpRequest,
            _: &mut actix_web::dev::Payload,
        ) -> Self::Future {
            std::future::ready(Err(actix_web::error::ErrorInternalServerError(
                "no database connection",
            )))
        }
    }
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        App::new()
            .route(
                "/maintenance",
                web::get().to(|| async {
                    Err::<String, _>(actix_web::error::ErrorServiceUnavailable("maintenance"))
                }),
            )
            .route("/db", web::get().to(|_: Database| async { "never" }))
            .route(
                "/bad",
                web::get().to(|| async {
                    Err::<String, _>(actix_web::error::ErrorBadRequest("bad input"))
                }),
            )
            .wrap(Middleware::with_instance(s.clone()))
    });
    assert_eq!(app.get("/maintenance").await.status, 503);
    assert_eq!(app.get("/db").await.status, 500);
    assert_eq!(app.get("/bad").await.status, 400);
    for r in ["/maintenance", "/db", "/bad"] {
        wait_count(&sg, r, 1).await;
    }
    assert!(sg.flush(Duration::from_secs(10)));
    let errors = |route: &str| {
        req_events(&mem)
            .into_iter()
            .find(|r| r.1.route == route)
            .map(|r| (r.1.status, r.1.error))
            .unwrap()
    };
    assert_eq!(errors("/maintenance"), (503, Some("maintenance".into())));
    assert_eq!(errors("/db"), (500, Some("no database connection".into())));
    assert_eq!(errors("/bad"), (400, None));
    // The dashboard's error list shows the text.
    let list = app.get("/_spyglass/api/errors?limit=10").await.json();
    let messages: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["label"].to_string(), e["message"].to_string()))
        .collect();
    println!("/_spyglass/api/errors: {messages:?}");
    assert!(messages.contains(&(r#""GET /maintenance""#.into(), r#""maintenance""#.into())));
    assert!(messages.contains(&(r#""GET /db""#.into(), r#""no database connection""#.into())));
    assert_eq!(messages.len(), 2, "{messages:?}");
}

/// An upgrade (`101 Switching Protocols`) whose body, the upgraded connection's stream, stays
/// open: recorded at the handshake, with a `traceparent` and no bytes out, while the connection is
/// still open.
#[tokio::test]
async fn upgrades_are_recorded_at_the_handshake() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, addr) = serve!(1, move || {
        App::new()
            .route(
                "/ws/{room}",
                web::get().to(|| async {
                    use futures_util::StreamExt as _;
                    // The session: a greeting, then nothing, for ever.
                    let frames = futures_util::stream::once(async {
                        Ok::<_, std::io::Error>(web::Bytes::from_static(b"hello"))
                    })
                    .chain(futures_util::stream::pending());
                    HttpResponse::SwitchingProtocols()
                        .insert_header(("upgrade", "websocket"))
                        .streaming(frames)
                }),
            )
            .route("/ok", web::get().to(|| async { "ok" }))
            .wrap(Middleware::with_instance(s.clone()))
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    // A regression fails the test instead of hanging it.
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(
        b"GET /ws/lobby HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    )
    .unwrap();
    let got = read_until(&mut conn, |got| {
        String::from_utf8_lossy(got).contains("hello")
    });
    let head = String::from_utf8_lossy(&got).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("traceparent: 00-"), "{head}");
    // The session is open (`conn` lives): the handshake is recorded already.
    wait_count(&sg, "/ws/{room}", 1).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let (ev, req) = req_events(&mem).pop().expect("the handshake's event");
    println!(
        "recorded while open: {} {} {} bytes out, {} ns",
        req.route, req.status, req.bytes_out, ev.dur_ns
    );
    assert_eq!((req.status, req.bytes_out, req.error), (101, 0, None));
    assert_eq!(app.get("/ok").await.status, 200, "the worker serves on");
    drop(conn);
}

/// `HEAD`: actix sends no body (it polls the body and drops the chunks), so none is counted, for a
/// handler's answer as for the 500 of a panic, while the same `GET` counts its bytes.
#[tokio::test]
async fn head_requests_count_no_bytes_out() {
    let (sg, mem) = instance();
    let s = sg.clone();
    let (app, _) = serve!(1, move || {
        let page = || async { "x".repeat(5000) };
        let boom = || async {
            if "boom".len() == 4 {
                panic!("head boom");
            }
            "never"
        };
        App::new()
            .service(
                web::resource("/page")
                    .route(web::get().to(page))
                    .route(web::head().to(page)),
            )
            .route("/boom", web::head().to(boom))
            .wrap(Middleware::with_instance(s.clone()))
    });
    let head = app.send(app.req(reqwest::Method::HEAD, "/page")).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("5000"));
    assert!(head.body.is_empty());
    assert_eq!(app.get("/page").await.body.len(), 5000);
    let boom = app.send(app.req(reqwest::Method::HEAD, "/boom")).await;
    assert_eq!((boom.status, boom.body.len()), (500, 0));
    wait_count(&sg, "/page", 2).await;
    wait_count(&sg, "/boom", 1).await;
    assert!(sg.flush(Duration::from_secs(10)));
    let mut out: Vec<(String, u16, u64)> = req_events(&mem)
        .into_iter()
        .map(|(_, r)| (format!("{} {}", r.method, r.route), r.status, r.bytes_out))
        .collect();
    out.sort();
    println!("bytes out: {out:?}");
    assert_eq!(
        out,
        [
            ("GET /page".into(), 200, 5000),
            ("HEAD /boom".into(), 500, 0),
            ("HEAD /page".into(), 200, 0)
        ]
    );
}

/// Reads from `conn` until what came satisfies `done`; the connection closing first fails the test.
fn read_until(conn: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

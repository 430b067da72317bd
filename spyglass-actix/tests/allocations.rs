//! Heap allocations the middleware adds per request: the same actix-web app (real routing, real
//! extractors and responders) called bare and wrapped in `Spyglass`, on one thread, with a counting
//! allocator (`allocation-counter`) counting every allocation while the requests are served and their
//! bodies sent. (The collector thread, which exports in batches off the request path, is not
//! counted.) Requests are built the same way for both apps, so their cost cancels out.

use std::future::poll_fn;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{init_service, TestRequest};
use actix_web::{web, App};

#[derive(Clone, Copy, Debug)]
enum Variant {
    Bare,
    Spyglass,
    /// With exclusions configured, none of which the requests match.
    SpyglassExcluding(&'static [&'static str]),
}

/// Serves `n` requests built by `make` on `app`, sending each body to its end.
async fn serve_n<S, B>(app: &S, n: usize, make: &impl Fn() -> actix_http::Request)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for _ in 0..n {
        let resp = app.call(make()).await.unwrap();
        assert!(resp.status().is_success());
        let mut body = std::pin::pin!(resp.into_body());
        while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            assert!(chunk.is_ok());
        }
    }
}

/// Allocations per request for `variant`, after a warm-up.
fn per_request(variant: Variant, n: usize, make: impl Fn() -> actix_http::Request) -> f64 {
    let sg = spyglass_core::Spyglass::builder()
        .flush_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let rt = actix_web::rt::System::new();
    let routes = |cfg: &mut web::ServiceConfig| {
        cfg.route(
            "/users/{id}",
            web::get().to(|id: web::Path<u64>| async move { format!("user-{id}") }),
        )
        .route("/echo", web::post().to(|b: web::Bytes| async move { b }));
    };
    let count = match variant {
        Variant::Bare => {
            let app = rt.block_on(init_service(App::new().configure(routes)));
            rt.block_on(serve_n(&app, 1000, &make));
            allocation_counter::measure(|| rt.block_on(serve_n(&app, n, &make))).count_total
        }
        Variant::Spyglass | Variant::SpyglassExcluding(_) => {
            let exclude = match variant {
                Variant::SpyglassExcluding(routes) => routes,
                _ => &[],
            };
            let app = rt.block_on(init_service(
                App::new().configure(routes).wrap(
                    spyglass_actix::Spyglass::with_instance(sg.clone())
                        .exclude(exclude.iter().copied()),
                ),
            ));
            rt.block_on(serve_n(&app, 1000, &make));
            let c =
                allocation_counter::measure(|| rt.block_on(serve_n(&app, n, &make))).count_total;
            let snap = sg.stats().snapshot(Duration::from_secs(900));
            assert_eq!(snap.requests.len(), 1, "{:?}", snap.requests);
            assert_eq!(
                snap.requests[0].count,
                1000 + n as u64,
                "every request recorded"
            );
            c
        }
    };
    count as f64 / n as f64
}

#[test]
fn one_allocation_added_per_request_the_route_string_actix_builds() {
    let n = 2000;
    let get = || TestRequest::get().uri("/users/7").to_request();
    let bare = per_request(Variant::Bare, n, get);
    let wrapped = per_request(Variant::Spyglass, n, get);
    let added = wrapped - bare;
    println!("allocations per GET: bare {bare:.3}, with Spyglass {wrapped:.3}: {added:.3} added");
    // actix's `match_pattern()` returns the route template as a new `String` (freed at once after
    // the per-thread interning lookup); the per-thread traceparent buffer refills once per ~300
    // responses. Nothing else on the request path allocates.
    assert!(
        added <= 1.0 + 0.01,
        "Spyglass added {added:.3} allocations per request (bare {bare:.3}, wrapped {wrapped:.3})"
    );
}

#[test]
fn bodies_with_a_declared_length_add_no_payload_counter() {
    let n = 1000;
    let post = || {
        TestRequest::post()
            .uri("/echo")
            .insert_header(("content-length", "5"))
            .set_payload("hello")
            .to_request()
    };
    let bare = per_request(Variant::Bare, n, post);
    let wrapped = per_request(Variant::Spyglass, n, post);
    let added = wrapped - bare;
    println!("allocations per POST: bare {bare:.3}, with Spyglass {wrapped:.3}: {added:.3} added");
    assert!(
        added <= 1.0 + 0.01,
        "{added:.3} added (bare {bare:.3}, wrapped {wrapped:.3})"
    );
}

#[test]
fn exclusions_add_no_allocation_to_the_other_routes() {
    let n = 2000;
    let get = || TestRequest::get().uri("/users/7").to_request();
    let bare = per_request(Variant::Bare, n, get);
    let wrapped = per_request(
        Variant::SpyglassExcluding(&["/health", "/internal/*", "/admin/{page}", "<unmatched>"]),
        n,
        get,
    );
    let added = wrapped - bare;
    println!(
        "allocations per GET with exclusions: bare {bare:.3}, with Spyglass {wrapped:.3}: {added:.3} added"
    );
    // The route read after routing, as without exclusions: the early match runs only for paths
    // that begin with an exclusion's literal head.
    assert!(
        added <= 1.0 + 0.01,
        "{added:.3} added (bare {bare:.3}, wrapped {wrapped:.3})"
    );
}

#[test]
fn http2_requests_without_a_body_add_no_payload_counter() {
    let n = 2000;
    // An HTTP/2 GET: no `Content-Length`, and a payload stream that ended with the headers (actix
    // gives the h2 stream itself; `tests/http2.rs` checks that one over loopback).
    let get = || {
        let mut req = TestRequest::get()
            .uri("/users/7")
            .version(actix_web::http::Version::HTTP_2)
            .to_request();
        *req.payload() = actix_web::dev::Payload::Stream {
            payload: Box::pin(futures_util::stream::empty()),
        };
        req
    };
    let bare = per_request(Variant::Bare, n, get);
    let wrapped = per_request(Variant::Spyglass, n, get);
    let added = wrapped - bare;
    println!(
        "allocations per HTTP/2 GET: bare {bare:.3}, with Spyglass {wrapped:.3}: {added:.3} added"
    );
    assert!(
        added <= 1.0 + 0.01,
        "{added:.3} added (bare {bare:.3}, wrapped {wrapped:.3})"
    );
}

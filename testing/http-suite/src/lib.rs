//! The HTTP behaviour suite every Spyglass middleware adapter runs (axum and actix-web), written
//! once against a running server over real loopback HTTP, so the adapters cannot drift.
//!
//! # How an adapter runs it
//!
//! 1. Implement [`Harness`]: start the adapter's test app with the Spyglass middleware using the
//!    **global** instance (the suite installs it, with the case's [`AppConfig`], before calling
//!    [`Harness::start`]), bound to `cfg.bind` port 0, with connect info so the dashboard sees the peer
//!    address, and return the bound address.
//! 2. In a test file: `spyglass_http_suite::http_suite!(MyHarness);` — one `#[tokio::test]` per case.
//!
//! The returned future must be `Send`: a server whose futures are not (actix-web) runs on its own
//! thread (`actix_rt::System::new().block_on(…)`) and sends the bound address back over a channel.
//! The dashboard must see the peer address (axum: `into_make_service_with_connect_info`; actix:
//! `HttpRequest::peer_addr`), and the access case binds `0.0.0.0` and connects from this machine's
//! non-loopback address ([`non_loopback_ip`]).
//!
//! Each case installs the global instance, so the cases need one process per test: run them with
//! `cargo nextest` (the repository's runner, `scripts/test-all.sh`). Under plain `cargo test` they
//! run in one process and all but the first fail with a message saying so.
//!
//! # The test app's routes
//!
//! | route | behaviour |
//! | --- | --- |
//! | `GET /users/{id}` | 200, body [`work::user`]`(id)` (calls the instrumented [`work::load_user`]) |
//! | `GET /error` | 500, body `failure` |
//! | `GET /missing` | 404, body `missing` (a route that answers 4xx: not an error) |
//! | `GET /slow` | 200 `slow` after [`work::slow`] (20 ms) |
//! | `GET /held` | 200 `held` once the case lets [`work::held`] go |
//! | `GET /panic` | the handler panics with [`work::PANIC_MESSAGE`] |
//! | `POST /echo` | 200, the request body echoed back |
//! | `GET`, `HEAD /bytes/{n}` | 200, [`work::bytes`]`(n)`: `n` bytes (at most 1 MiB; none sent for `HEAD`) |
//! | `GET /nested` | 200, body [`work::nested`]`()`: `outer` → `inner` twice, all `#[instrument]`ed |
//! | `GET /stream` | 200, a streamed body of [`work::STREAM_CHUNKS`] chunks, each made by the instrumented [`work::chunk`] when the server polls the body |
//! | `GET /health` | 200 `ok` (excluded in the exclusion case) |
//! | anything else | the framework's default 404 (recorded as `<unmatched>`) |
//!
//! The layer/middleware goes last (after routes and fallback) with default options.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use spyglass;

/// What one case needs from the app under test.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Whether the dashboard is served (`false` is `SPYGLASS_DASHBOARD=off`).
    pub dashboard: bool,
    /// `SPYGLASS_DASHBOARD_TOKEN`.
    pub token: Option<String>,
    /// Route templates excluded from recording.
    pub exclude: Vec<String>,
    /// Address to bind (port 0).
    pub bind: IpAddr,
    /// Whether the layer/middleware runs hooks that label each request with
    /// [`work::label_request`] and [`work::label_response`].
    pub label_hooks: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            dashboard: true,
            token: None,
            exclude: Vec::new(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            label_hooks: false,
        }
    }
}

impl AppConfig {
    /// Installs the global Spyglass instance with these settings.
    ///
    /// # Panics
    ///
    /// When a global instance exists already: the suite needs one process per test (nextest).
    pub fn install(&self) -> spyglass::SpyglassGuard {
        let mut b = spyglass::Spyglass::builder()
            .service_name("http-suite")
            .flush_interval(Duration::from_millis(20))
            .dashboard(self.dashboard)
            .exclude_routes(self.exclude.iter().cloned());
        if let Some(t) = &self.token {
            b = b.dashboard_token(t.clone());
        }
        b.install().unwrap_or_else(|e| {
            panic!(
                "the HTTP suite installs the global Spyglass instance per case and needs one process \
                 per test: run it with `cargo nextest run` ({e})"
            )
        })
    }
}

/// Starts an adapter's test app (see the [crate docs](crate) for its routes).
pub trait Harness: Sync {
    /// Whether the framework drops a request's handler when its client goes away before the
    /// answer (hyper, under axum, does). When it does, the middleware records the request as
    /// cancelled (status 499); when it runs the handler to its end instead, with its status.
    const DROPS_HANDLERS_OF_GONE_CLIENTS: bool = true;

    /// Starts the app on `cfg.bind`, port 0, recording into the global instance; returns the bound
    /// address. The server runs until the test's runtime ends.
    fn start(&self, cfg: &AppConfig) -> impl Future<Output = SocketAddr> + Send;
}

/// Reading what an instance recorded, for the adapters' own option tests.
pub mod recorded {
    use std::time::Duration;

    use spyglass::event::{EventKind, ReqEvent};
    use spyglass::export::InMemoryExporter;
    use spyglass::stats::RequestStats;
    use spyglass::{Event, Spyglass};

    /// A private instance exporting to memory, flushing every 10 ms.
    pub fn instance() -> (Spyglass, InMemoryExporter) {
        let mem = InMemoryExporter::new();
        let sg = Spyglass::builder()
            .exporter(mem.clone())
            .flush_interval(Duration::from_millis(10))
            .build()
            .expect("a private instance");
        (sg, mem)
    }

    /// Requests recorded under `route` in the last minute.
    pub fn count(sg: &Spyglass, route: &str) -> u64 {
        sg.stats()
            .snapshot(Duration::from_secs(60))
            .requests
            .iter()
            .filter(|r| r.route == route)
            .map(|r| r.count)
            .sum()
    }

    /// Waits (at most 10 s) until exactly `n` requests are recorded under `route`; panics if not.
    pub async fn wait_count(sg: &Spyglass, route: &str, n: u64) {
        let ok = super::eventually(|| async { (count(sg, route) == n).then_some(()) }).await;
        assert!(
            ok.is_some(),
            "{route}: {} recorded, expected {n}",
            count(sg, route)
        );
    }

    /// The stats row of `route`; panics if there is none.
    pub fn row(sg: &Spyglass, route: &str) -> RequestStats {
        sg.stats()
            .snapshot(Duration::from_secs(60))
            .requests
            .into_iter()
            .find(|r| r.route == route)
            .unwrap_or_else(|| panic!("no row {route}"))
    }

    /// The request events `mem` received, each with its request part.
    pub fn req_events(mem: &InMemoryExporter) -> Vec<(Event, ReqEvent)> {
        mem.events()
            .into_iter()
            .filter_map(|e| match &e.kind {
                EventKind::Req(r) => {
                    let r = r.clone();
                    Some((e, r))
                }
                _ => None,
            })
            .collect()
    }
}

/// For the database integrations' tests (sqlx, diesel), which record into the global instance.
pub mod db {
    use std::time::Duration;

    use spyglass::context::TraceId;
    use spyglass::event::{DbEvent, EventKind, EventRecord, ReqEvent};
    use spyglass::export::InMemoryExporter;
    use spyglass::{Event, TraceContext};

    /// Flushes the global instance (at most 10 s); panics if it times out.
    pub fn flush() {
        assert!(
            spyglass::global().flush(Duration::from_secs(10)),
            "flush timed out"
        );
    }

    /// Every event of `trace` that `mem` received, after a flush.
    pub fn trace_events(mem: &InMemoryExporter, trace: TraceId) -> Vec<Event> {
        flush();
        mem.events()
            .into_iter()
            .filter(|e| e.trace_id == trace)
            .collect()
    }

    /// The query events among `evs`, each with its query part.
    pub fn db_events(evs: &[Event]) -> Vec<(&Event, &DbEvent)> {
        evs.iter()
            .filter_map(|e| match &e.kind {
                EventKind::Db(d) => Some((e, d)),
                _ => None,
            })
            .collect()
    }

    /// Serializes every event `mem` received (as JSONL records of `service`), the global
    /// instance's recent errors and its stats snapshot, and checks that none of `secrets` appears
    /// in any of them (and that there were query events to look at).
    pub fn assert_no_secret_anywhere(mem: &InMemoryExporter, service: &str, secrets: &[&str]) {
        flush();
        let mut out = String::new();
        let recent_errors = spyglass::global().recent().errors(1000);
        for ev in mem.events().iter().chain(&recent_errors) {
            out.push_str(&serde_json::to_string(&EventRecord { service, event: ev }).unwrap());
            out.push('\n');
        }
        out.push_str(
            &serde_json::to_string(&spyglass::stats().snapshot(Duration::from_secs(900))).unwrap(),
        );
        assert!(out.contains("\"db\""), "expected db events in the output");
        for s in secrets {
            assert!(
                !out.contains(s),
                "bind value {s:?} leaked into the output:\n{out}"
            );
        }
    }

    /// A fresh name (`prefix_` and 16 hex digits), so tests sharing one database do not collide.
    pub fn unique(prefix: &str) -> String {
        format!(
            "{prefix}_{}",
            TraceContext::new_root(true).span_id().to_hex().as_str()
        )
    }

    /// Records the end of a request with `ctx` as its span (what the HTTP middlewares do), so the
    /// flight recorder closes the trace and looks for N+1 patterns in it.
    pub fn finish_request(ctx: TraceContext, route: &'static str) {
        spyglass::emitter().emit_span(
            ctx,
            1_000_000,
            EventKind::Req(ReqEvent {
                method: "GET",
                route: route.into(),
                status: 200,
                bytes_in: 0,
                bytes_out: 0,
                error: None,
                labels: Default::default(),
            }),
        );
    }

    /// The test PostgreSQL's URL from `SPYGLASS_TEST_PG_URL`. Under `CI=true` a missing URL is a
    /// failure; elsewhere the test is skipped loudly (`None`).
    pub fn pg_base_url() -> Option<String> {
        match std::env::var("SPYGLASS_TEST_PG_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("SPYGLASS_TEST_PG_URL is not set: under CI the PostgreSQL tests must run (scripts/setup.d/20-postgres.sh starts one)");
                }
                eprintln!("\n!!!!!!!!\n!!! SPYGLASS_TEST_PG_URL is not set: SKIPPING this PostgreSQL test.\n!!! Run scripts/test-all.sh (it starts a throwaway PostgreSQL) to run it.\n!!!!!!!!\n");
                None
            }
        }
    }
}

/// The work the test app's handlers do, shared by every adapter.
pub mod work {
    use std::time::Duration;

    /// The message `/panic` panics with.
    pub const PANIC_MESSAGE: &str = "suite panic: handler exploded";

    /// An instrumented lookup, called by `/users/{id}`.
    #[spyglass::instrument]
    pub async fn load_user(id: u64) -> Result<String, String> {
        Ok(format!("user-{id}"))
    }

    /// The body of `/users/{id}`.
    pub async fn user(id: u64) -> String {
        let name = load_user(id).await.unwrap_or_default();
        format!(r#"{{"id":{id},"name":"{name}"}}"#)
    }

    /// The inner instrumented step of `/nested` (sync).
    #[spyglass::instrument]
    pub fn inner(n: u32) -> u32 {
        n * 2
    }

    /// The outer instrumented step of `/nested`: calls [`inner`] twice.
    #[spyglass::instrument]
    pub async fn outer() -> u32 {
        tokio::task::yield_now().await;
        inner(1) + inner(2)
    }

    /// The body of `/nested`.
    pub async fn nested() -> String {
        format!("nested {}", outer().await)
    }

    /// How many chunks `/stream` sends.
    pub const STREAM_CHUNKS: u32 = 3;

    /// Chunk `i` of `/stream`'s body, made when the server polls the body for it (after the
    /// handler returned): instrumented, so its span shows in which context the body is polled.
    #[spyglass::instrument]
    pub fn chunk(i: u32) -> String {
        format!("chunk {i}\n")
    }

    /// What `/slow` waits.
    pub async fn slow() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    static HELD: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    static HELD_STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn gate() -> &'static tokio::sync::Semaphore {
        HELD.get_or_init(|| tokio::sync::Semaphore::new(0))
    }

    /// What `/held` waits: until [`release_held`] lets it go (it counts itself in [`held_started`]
    /// first).
    pub async fn held() {
        HELD_STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        gate().acquire().await.expect("never closed").forget();
    }

    /// How many `/held` handlers have started.
    pub fn held_started() -> usize {
        HELD_STARTED.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets `n` `/held` handlers (waiting or to come) finish.
    pub fn release_held(n: usize) {
        gate().add_permits(n);
    }

    /// The body of `/bytes/{n}`: `n` bytes, capped at 1 MiB.
    pub fn bytes(n: usize) -> Vec<u8> {
        vec![b'x'; n.min(1 << 20)]
    }

    /// The request header [`label_request`] reads.
    pub const TENANT_HEADER: &str = "x-tenant";

    /// The message [`label_request`] panics with for the tenant `panic`.
    pub const HOOK_PANIC_MESSAGE: &str = "suite panic: the on_request hook exploded";

    /// What the `on_request` hook does with [`AppConfig::label_hooks`](crate::AppConfig): labels
    /// the request `tenant` with the [`TENANT_HEADER`] header's value, when there is one; panics
    /// with [`HOOK_PANIC_MESSAGE`] for the tenant `panic`.
    pub fn label_request(tenant: Option<&[u8]>, labels: &mut spyglass::Labels) {
        if let Some(t) = tenant.and_then(|t| std::str::from_utf8(t).ok()) {
            if t == "panic" {
                panic!("{HOOK_PANIC_MESSAGE}");
            }
            labels.insert("tenant", t.to_owned());
        }
    }

    /// What the `on_response` hook does with [`AppConfig::label_hooks`](crate::AppConfig): labels
    /// the request `class` with its status class (`2xx`, `5xx`, …).
    pub fn label_response(status: u16, labels: &mut spyglass::Labels) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        labels.insert("class", class);
    }
}

/// A running app as the suite sees it.
#[derive(Debug, Clone)]
pub struct App {
    addr: SocketAddr,
    base: String,
    client: reqwest::Client,
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl App {
    /// The app at `addr` (an unspecified address is reached over loopback).
    pub fn new(addr: SocketAddr) -> Self {
        let ip = if addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            addr.ip()
        };
        Self::at(SocketAddr::new(ip, addr.port()))
    }

    /// The address the app is reached at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The app reached at exactly `addr`.
    pub fn at(addr: SocketAddr) -> Self {
        App {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
        }
    }

    /// Sends `request` as raw bytes over a new connection and reads until the server closes it (the
    /// request should say `Connection: close`): for what an HTTP client library would not send.
    pub async fn raw(&self, request: Vec<u8>) -> String {
        let addr = self.addr;
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(&request).expect("send");
            let mut out = Vec::new();
            s.read_to_end(&mut out).expect("read the answer");
            String::from_utf8_lossy(&out).into_owned()
        })
        .await
        .expect("the raw exchange")
    }

    /// Sends `GET path` over a new connection and returns it without reading: dropping it closes
    /// the connection, as a client that gave up does.
    pub async fn send_head(&self, path: &str) -> std::net::TcpStream {
        let addr = self.addr;
        let head = format!("GET {path} HTTP/1.1\r\nHost: spyglass\r\n\r\n");
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(head.as_bytes()).expect("send");
            s
        })
        .await
        .expect("the request sent")
    }

    /// Sends `req` and reads the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body read").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A request builder for `method path`.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.req(reqwest::Method::GET, path)).await
    }

    /// `/_spyglass/api/stats?window=60` as JSON.
    pub async fn stats(&self) -> Value {
        let a = self.get("/_spyglass/api/stats?window=60").await;
        assert_eq!(a.status, 200, "stats: {}", a.text());
        a.json()
    }

    /// The request row of `method route` in `stats`.
    pub fn row<'a>(stats: &'a Value, method: &str, route: &str) -> Option<&'a Value> {
        stats["requests"]
            .as_array()?
            .iter()
            .find(|r| r["method"] == method && r["route"] == route)
    }

    /// Waits (at most 10 s) until the stats row of `method route` satisfies `f`; returns it.
    pub async fn wait_row(&self, method: &str, route: &str, f: impl Fn(&Value) -> bool) -> Value {
        let f = &f;
        let r = eventually(|| async move {
            let stats = self.stats().await;
            App::row(&stats, method, route).filter(|r| f(r)).cloned()
        })
        .await;
        match r {
            Some(r) => r,
            None => panic!(
                "no row {method} {route} as expected within 10 s in {:#}",
                self.stats().await
            ),
        }
    }
}

/// Polls `f` until it returns `Some`, for at most 10 s.
pub async fn eventually<T, Fut: Future<Output = Option<T>>>(
    mut f: impl FnMut() -> Fut,
) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A non-loopback address of this machine (the source address of its route to a TEST-NET or public
/// address; no packet is sent), for the access-control case.
pub fn non_loopback_ip() -> Option<IpAddr> {
    [
        "192.0.2.1:9",
        "10.255.255.254:9",
        "172.31.255.254:9",
        "8.8.8.8:53",
    ]
    .iter()
    .find_map(|target| {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.connect(target).ok()?;
        let ip = s.local_addr().ok()?.ip();
        (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
    })
}

fn trace_id_of(traceparent: &str) -> (&str, &str) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {traceparent}");
    assert_eq!(parts[1].len(), 32);
    assert_eq!(parts[2].len(), 16);
    (parts[1], parts[2])
}

/// The cases. Each starts its own app through the harness.
pub mod cases {
    use super::*;

    async fn start<H: Harness>(h: &H, cfg: AppConfig) -> (App, spyglass::SpyglassGuard) {
        let guard = cfg.install();
        let addr = h.start(&cfg).await;
        (App::new(addr), guard)
    }

    /// Requests are recorded under their route template, never the raw path.
    pub async fn route_templates<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        for id in [1, 2, 3] {
            let a = app.get(&format!("/users/{id}")).await;
            assert_eq!(a.status, 200);
            assert_eq!(a.text(), format!(r#"{{"id":{id},"name":"user-{id}"}}"#));
        }
        let row = app
            .wait_row("GET", "/users/{id}", |r| r["count"] == 3)
            .await;
        assert_eq!(row["errors"], 0);
        let stats = app.stats().await;
        let raw = stats["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["route"].as_str().unwrap().starts_with("/users/1"));
        assert!(!raw, "a raw path leaked into the routes: {stats:#}");
        // The instrumented function is counted too.
        let fns = stats["functions"].as_array().unwrap();
        assert!(fns.iter().any(|f| f["name"] == "load_user"), "{stats:#}");
    }

    /// Requests no route matches share the `<unmatched>` row.
    pub async fn unmatched<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        assert_eq!(app.get("/no/such/path/123").await.status, 404);
        assert_eq!(app.get("/another-one?x=1").await.status, 404);
        let row = app
            .wait_row("GET", "<unmatched>", |r| r["count"] == 2)
            .await;
        assert_eq!(row["errors"], 0, "4xx is not an error");
        let stats = app.stats().await;
        for r in stats["requests"].as_array().unwrap() {
            let route = r["route"].as_str().unwrap();
            assert!(
                !route.contains("no/such") && !route.contains("another"),
                "{route}"
            );
        }
    }

    /// 5xx counts as an error, 4xx does not.
    pub async fn server_errors_not_client_errors<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        for _ in 0..2 {
            assert_eq!(app.get("/error").await.status, 500);
        }
        for _ in 0..3 {
            assert_eq!(app.get("/missing").await.status, 404);
        }
        let e = app.wait_row("GET", "/error", |r| r["count"] == 2).await;
        assert_eq!(e["errors"], 2);
        assert_eq!(e["error_rate"], 1.0);
        let m = app.wait_row("GET", "/missing", |r| r["count"] == 3).await;
        assert_eq!(m["errors"], 0);
        assert_eq!(m["error_rate"], 0.0);
        let errs = app.get("/_spyglass/api/errors?limit=10").await.json();
        let errs = errs.as_array().unwrap();
        assert!(errs.iter().all(|e| e["route"] != "/missing"), "{errs:?}");
    }

    /// A panicking handler becomes a 500 with the message recorded, and the server keeps serving.
    pub async fn panics_become_500<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let a = app.get("/panic").await;
        assert_eq!(a.status, 500);
        let tp = a
            .header("traceparent")
            .expect("traceparent on the 500")
            .to_string();
        let (trace_id, _) = trace_id_of(&tp);
        // Still serving.
        assert_eq!(app.get("/users/7").await.status, 200);
        let row = app.wait_row("GET", "/panic", |r| r["count"] == 1).await;
        assert_eq!(row["errors"], 1);
        let err = eventually(|| async {
            let list = app.get("/_spyglass/api/errors?limit=50").await.json();
            list.as_array()?
                .iter()
                .find(|e| e["trace_id"] == trace_id)
                .cloned()
        })
        .await
        .expect("the panic is listed in /api/errors");
        assert_eq!(err["route"], "/panic");
        assert_eq!(err["status"], 500);
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains(work::PANIC_MESSAGE),
            "{err}"
        );
    }

    /// Bytes in and out are counted.
    pub async fn bytes_in_and_out<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let payload = vec![b'a'; 1000];
        let a = app
            .send(
                app.req(reqwest::Method::POST, "/echo")
                    .body(payload.clone()),
            )
            .await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body, payload);
        let row = app.wait_row("POST", "/echo", |r| r["count"] == 1).await;
        assert_eq!(row["bytes_in"], 1000);
        assert_eq!(row["bytes_out"], 1000);
        for n in [0usize, 5000, 300_000] {
            let a = app.get(&format!("/bytes/{n}")).await;
            assert_eq!(a.body.len(), n);
        }
        let row = app.wait_row("GET", "/bytes/{n}", |r| r["count"] == 3).await;
        assert_eq!(row["bytes_out"], 305_000);
        assert_eq!(row["bytes_in"], 0);

        // A chunked upload has no length up front: its bytes are counted as they reach the handler.
        let mut req = b"POST /echo HTTP/1.1\r\nHost: spyglass\r\nTransfer-Encoding: chunked\r\n\
                        Connection: close\r\n\r\n"
            .to_vec();
        for chunk in [700usize, 1, 4096] {
            req.extend_from_slice(format!("{chunk:x}\r\n").as_bytes());
            req.extend(std::iter::repeat_n(b'c', chunk));
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let answer = app.raw(req).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let row = app.wait_row("POST", "/echo", |r| r["count"] == 2).await;
        assert_eq!(row["bytes_in"], 1000 + 4797, "{row}");
        assert_eq!(row["bytes_out"], 1000 + 4797, "{row}");
    }

    /// `HEAD`: the server sends the head of the `GET` answer and no body, so no bytes out are
    /// counted (whether the framework polls the body and drops it, as actix-http does, or never
    /// polls it, as hyper does); the `GET` beside it counts its body.
    pub async fn head_requests_count_no_bytes_out<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let head = app
            .send(app.req(reqwest::Method::HEAD, "/bytes/5000"))
            .await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some("5000"));
        assert!(head.body.is_empty());
        assert_eq!(app.get("/bytes/5000").await.body.len(), 5000);
        let row = app
            .wait_row("HEAD", "/bytes/{n}", |r| r["count"] == 1)
            .await;
        assert_eq!(row["bytes_out"], 0, "{row}");
        let row = app.wait_row("GET", "/bytes/{n}", |r| r["count"] == 1).await;
        assert_eq!(row["bytes_out"], 5000, "{row}");
    }

    /// A request whose client goes away before the answer is recorded once, under its route: with
    /// status 499 (nginx's Client Closed Request) when the framework drops its handler, which is
    /// not an error since no status was sent; else with the status its handler answered.
    pub async fn abandoned_requests_are_recorded<H: Harness>(h: &H) {
        let want = if H::DROPS_HANDLERS_OF_GONE_CLIENTS {
            499
        } else {
            200
        };
        let (app, _g) = start(h, AppConfig::default()).await;
        for n in 1..=3 {
            let conn = app.send_head("/held").await;
            // Closed once its handler runs: a request closed earlier may never reach the app.
            eventually(|| async { (work::held_started() >= n).then_some(()) })
                .await
                .expect("the handler started");
            drop(conn);
        }
        // A framework that runs the handlers of gone clients to their end needs them let go; one
        // that drops them must record them while they are still held.
        if !H::DROPS_HANDLERS_OF_GONE_CLIENTS {
            work::release_held(3);
        }
        let row = app.wait_row("GET", "/held", |r| r["count"] == 3).await;
        assert_eq!(row["errors"], 0, "{row}");
        let events = eventually(|| async {
            let list = app
                .get("/_spyglass/api/events?kind=req&limit=100")
                .await
                .json();
            let slow: Vec<Value> = list
                .as_array()?
                .iter()
                .filter(|e| e["route"] == "/held")
                .cloned()
                .collect();
            (slow.len() == 3).then_some(slow)
        })
        .await
        .expect("three request events");
        assert!(events.iter().all(|e| e["status"] == want), "{events:#?}");
    }

    /// `traceparent` is continued from the request, started fresh when malformed, and returned.
    pub async fn traceparent_in_and_out<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let a = app
            .send(
                app.req(reqwest::Method::GET, "/users/1")
                    .header("traceparent", incoming),
            )
            .await;
        assert_eq!(a.status, 200);
        let out = a
            .header("traceparent")
            .expect("traceparent returned")
            .to_string();
        let (tid, sid) = trace_id_of(&out);
        assert_eq!(tid, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(sid, "00f067aa0ba902b7", "the request has its own span");
        let ev = eventually(|| async {
            let list = app
                .get("/_spyglass/api/events?kind=req&limit=100")
                .await
                .json();
            list.as_array()?
                .iter()
                .find(|e| e["trace_id"] == tid)
                .cloned()
        })
        .await
        .expect("the request event");
        assert_eq!(ev["parent_span_id"], "00f067aa0ba902b7");
        assert_eq!(ev["span_id"], sid);

        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-xyz",
        ] {
            let a = app
                .send(
                    app.req(reqwest::Method::GET, "/users/2")
                        .header("traceparent", bad),
                )
                .await;
            assert_eq!(
                a.status, 200,
                "a malformed traceparent never fails the request"
            );
            let out = a
                .header("traceparent")
                .expect("traceparent returned")
                .to_string();
            let (tid, _) = trace_id_of(&out);
            assert_ne!(tid, "00000000000000000000000000000000");
        }
        let a = app.get("/users/3").await;
        let (t1, _) = trace_id_of(a.header("traceparent").unwrap());
        let b = app.get("/users/3").await;
        let (t2, _) = trace_id_of(b.header("traceparent").unwrap());
        assert_ne!(
            t1, t2,
            "each request without traceparent starts its own trace"
        );
    }

    /// `#[instrument]`ed functions called by a handler nest under the request's span.
    pub async fn instrumented_functions_nest<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let a = app.get("/nested").await;
        assert_eq!(a.status, 200);
        assert_eq!(a.text(), "nested 6");
        let tp = a.header("traceparent").unwrap().to_string();
        let (tid, req_span) = trace_id_of(&tp);
        let trace = eventually(|| async {
            let a = app.get(&format!("/_spyglass/api/traces/{tid}")).await;
            (a.status == 200)
                .then(|| a.json())
                .filter(|t| t["spans"].as_array().is_some_and(|s| s.len() == 3))
        })
        .await
        .expect("the trace with its three function spans");
        assert_eq!(trace["root"]["kind"], "req");
        assert_eq!(trace["root"]["span_id"], req_span);
        let spans = trace["spans"].as_array().unwrap();
        let outer = spans.iter().find(|s| s["name"] == "outer").expect("outer");
        assert_eq!(outer["parent_span_id"], req_span);
        let inners: Vec<_> = spans.iter().filter(|s| s["name"] == "inner").collect();
        assert_eq!(inners.len(), 2);
        for i in inners {
            assert_eq!(i["parent_span_id"], outer["span_id"]);
            assert_eq!(i["trace_id"], tid);
        }
    }

    /// A streamed body is polled in its request's trace context (on the connection's task, after
    /// the handler returned): the functions that make its chunks nest under the request.
    pub async fn streamed_bodies_run_in_the_requests_context<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let a = app.get("/stream").await;
        assert_eq!(a.status, 200);
        assert_eq!(a.text(), "chunk 0\nchunk 1\nchunk 2\n");
        let (tid, req_span) = trace_id_of(a.header("traceparent").unwrap());
        let n = work::STREAM_CHUNKS as usize;
        let trace = eventually(|| async {
            let a = app.get(&format!("/_spyglass/api/traces/{tid}")).await;
            (a.status == 200)
                .then(|| a.json())
                .filter(|t| t["spans"].as_array().is_some_and(|s| s.len() == n))
        })
        .await
        .expect("the trace with its chunks' spans");
        assert_eq!(trace["root"]["span_id"], req_span);
        for span in trace["spans"].as_array().unwrap() {
            assert_eq!(span["name"], "chunk");
            assert_eq!(span["trace_id"], tid);
            assert_eq!(span["parent_span_id"], req_span);
        }
    }

    /// Excluded routes are not recorded; the others are. Requests that match no route are
    /// excluded as `<unmatched>`.
    pub async fn exclusions<H: Harness>(h: &H) {
        let cfg = AppConfig {
            exclude: vec!["/health".into(), "<unmatched>".into()],
            ..AppConfig::default()
        };
        let (app, _g) = start(h, cfg).await;
        for _ in 0..3 {
            let a = app.get("/health").await;
            assert_eq!(a.status, 200);
            assert_eq!(a.text(), "ok");
            assert_eq!(app.get("/no/such/route").await.status, 404);
        }
        app.get("/users/1").await;
        app.wait_row("GET", "/users/{id}", |r| r["count"] == 1)
            .await;
        let stats = app.stats().await;
        assert!(App::row(&stats, "GET", "/health").is_none(), "{stats:#}");
        assert!(
            App::row(&stats, "GET", "<unmatched>").is_none(),
            "{stats:#}"
        );
    }

    /// Labels the hooks attach reach the recorded request: the dashboard's JSON API (events,
    /// errors, one trace) carries them (the exporters' own tests cover JSONL, OTLP and the console;
    /// the browser check, the page). A panicking handler keeps its `on_request` labels; a panicking
    /// `on_request` hook is a handler's panic, and the server serves on.
    pub async fn hook_labels_are_recorded<H: Harness>(h: &H) {
        let cfg = AppConfig {
            label_hooks: true,
            ..AppConfig::default()
        };
        let (app, _g) = start(h, cfg).await;
        let get = |path: &str, tenant: Option<&str>| {
            let mut r = app.req(reqwest::Method::GET, path);
            if let Some(t) = tenant {
                r = r.header(work::TENANT_HEADER, t);
            }
            app.send(r)
        };
        let acme = get("/users/1", Some("acme")).await;
        assert_eq!(acme.status, 200);
        let failed = get("/error", Some("globex")).await;
        assert_eq!(failed.status, 500);
        assert_eq!(get("/users/2", None).await.status, 200);
        assert_eq!(get("/panic", Some("initech")).await.status, 500);
        assert_eq!(get("/users/3", Some("panic")).await.status, 500);
        assert_eq!(
            get("/users/4", Some("acme")).await.status,
            200,
            "serving on"
        );
        let trace = |a: &Answer| trace_id_of(a.header("traceparent").unwrap()).0.to_string();
        let (acme_trace, failed_trace) = (trace(&acme), trace(&failed));

        let events = eventually(|| async {
            let list = app
                .get("/_spyglass/api/events?kind=req&limit=100")
                .await
                .json();
            let list = list.as_array()?.clone();
            (list.len() >= 6).then_some(list)
        })
        .await
        .expect("the six request events");
        let labels_of = |route: &str, trace: Option<&str>| {
            let e = events
                .iter()
                .find(|e| e["route"] == route && trace.is_none_or(|t| e["trace_id"] == t))
                .unwrap_or_else(|| panic!("no event for {route}: {events:#?}"));
            e.get("labels").cloned().unwrap_or(Value::Null)
        };
        assert_eq!(
            labels_of("/users/{id}", Some(&acme_trace)),
            serde_json::json!({"tenant": "acme", "class": "2xx"})
        );
        assert_eq!(
            labels_of("/error", None),
            serde_json::json!({"tenant": "globex", "class": "5xx"})
        );
        let plain = events
            .iter()
            .find(|e| {
                e["route"] == "/users/{id}" && e["status"] == 200 && e["labels"]["tenant"].is_null()
            })
            .expect("the request without a tenant");
        assert_eq!(plain["labels"], serde_json::json!({"class": "2xx"}));
        assert_eq!(labels_of("/panic", None)["tenant"], "initech");

        let hook_panic = events
            .iter()
            .find(|e| e["message"] == work::HOOK_PANIC_MESSAGE)
            .unwrap_or_else(|| panic!("the request whose hook panicked: {events:#?}"));
        assert_eq!(hook_panic["route"], "/users/{id}");
        assert_eq!(hook_panic["status"], 500);

        let errs = app.get("/_spyglass/api/errors?limit=10").await.json();
        let err = errs
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["trace_id"] == failed_trace.as_str())
            .unwrap_or_else(|| panic!("the failed request among the errors: {errs:#}"));
        assert_eq!(err["labels"]["tenant"], "globex");
        // A failed request's trace is always kept: its root shows the labels in the detail view.
        let t = app
            .get(&format!("/_spyglass/api/traces/{failed_trace}"))
            .await;
        assert_eq!(t.status, 200, "{}", t.text());
        assert_eq!(
            t.json()["root"]["labels"],
            serde_json::json!({"tenant": "globex", "class": "5xx"})
        );
    }

    /// The dashboard answers under `/_spyglass` and its traffic is not counted as the app's.
    pub async fn dashboard_traffic_not_counted<H: Harness>(h: &H) {
        let (app, _g) = start(h, AppConfig::default()).await;
        let page = app.get("/_spyglass").await;
        assert_eq!(page.status, 200);
        assert!(page
            .header("content-type")
            .unwrap()
            .starts_with("text/html"));
        assert!(page.text().contains("Spyglass"));
        for p in [
            "/_spyglass/assets/app.js",
            "/_spyglass/assets/uPlot.min.js",
            "/_spyglass/api/timeseries?window=60",
            "/_spyglass/api/events?kind=fn&limit=5",
            "/_spyglass/api/traces",
        ] {
            assert_eq!(app.get(p).await.status, 200, "{p}");
        }
        // Bad values are a 400 with a message naming the parameter.
        let bad = app.get("/_spyglass/api/stats?window=abc").await;
        assert_eq!(bad.status, 400);
        assert!(bad.text().contains("window"), "{}", bad.text());
        let bad = app.get("/_spyglass/api/events?kind=bogus").await;
        assert_eq!(bad.status, 400);
        assert!(bad.text().contains("kind"));
        assert_eq!(app.get("/_spyglass/api/traces/nothex").await.status, 400);
        assert_eq!(app.get("/_spyglass/nope").await.status, 404);
        assert_eq!(
            app.get("/_spyglass/metrics").await.status,
            404,
            "no Prometheus exporter"
        );
        // The live stream sends an update at once.
        let resp = app
            .req(
                reqwest::Method::GET,
                "/_spyglass/api/stream?interval_ms=100",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut resp = resp;
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("\n\n") {
            let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
                .await
                .expect("an SSE update within 10 s")
                .unwrap()
                .expect("stream open");
            got.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("event: update\ndata: {"), "{text}");
        drop(resp);

        app.get("/users/1").await;
        app.wait_row("GET", "/users/{id}", |r| r["count"] == 1)
            .await;
        let stats = app.stats().await;
        for r in stats["requests"].as_array().unwrap() {
            assert_eq!(
                r["route"], "/users/{id}",
                "only app traffic is counted: {stats:#}"
            );
        }
    }

    /// A non-loopback peer gets 403 and no data without the token, and the dashboard with it.
    ///
    /// Real sockets: the app listens on every address and the client connects to a non-loopback
    /// address of this machine, so the server sees a non-loopback peer.
    pub async fn non_loopback_needs_token<H: Harness>(h: &H) {
        let ip = non_loopback_ip().expect(
            "this case needs a non-loopback IP address on this machine (none found by routing to \
             TEST-NET or public addresses)",
        );
        let token = "suite-token-Σ-1";
        let cfg = AppConfig {
            token: Some(token.into()),
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ..AppConfig::default()
        };
        let (local, _g) = start(h, cfg.clone()).await;
        let port = local
            .base
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        let remote = App::at(SocketAddr::new(ip, port));

        // The app itself is served to everyone.
        assert_eq!(remote.get("/users/1").await.status, 200);
        for p in [
            "/_spyglass",
            "/_spyglass/api/stats",
            "/_spyglass/api/events",
            "/_spyglass/metrics",
        ] {
            let a = remote.get(p).await;
            assert_eq!(a.status, 403, "{p}");
            assert!(
                !a.text().contains("requests"),
                "no data in a 403: {}",
                a.text()
            );
        }
        let wrong = remote
            .send(
                remote
                    .req(reqwest::Method::GET, "/_spyglass/api/stats")
                    .bearer_auth("nope"),
            )
            .await;
        assert_eq!(wrong.status, 403);
        let ok = remote
            .send(
                remote
                    .req(reqwest::Method::GET, "/_spyglass/api/stats")
                    .bearer_auth(token),
            )
            .await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json()["service"], "http-suite");

        // ?token= moves into an HttpOnly cookie and out of the URL.
        let enc: String = token
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let r = remote
            .get(&format!("/_spyglass/api/stats?window=60&token={enc}"))
            .await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/_spyglass/api/stats?window=60"));
        let cookie = r.header("set-cookie").unwrap().to_string();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        let pair = cookie.split(';').next().unwrap().to_string();
        let with_cookie = remote
            .send(
                remote
                    .req(reqwest::Method::GET, "/_spyglass/api/stats?window=60")
                    .header("cookie", pair),
            )
            .await;
        assert_eq!(with_cookie.status, 200);
        // Loopback peers need no token.
        assert_eq!(local.get("/_spyglass/api/stats").await.status, 200);
    }

    /// `SPYGLASS_DASHBOARD=off`: every `/_spyglass` path falls through to the app.
    pub async fn dashboard_off<H: Harness>(h: &H) {
        let cfg = AppConfig {
            dashboard: false,
            ..AppConfig::default()
        };
        let (app, _g) = start(h, cfg).await;
        for p in ["/_spyglass", "/_spyglass/api/stats"] {
            let a = app.get(p).await;
            assert_eq!(a.status, 404, "{p}");
            assert!(!a.text().contains("requests"));
        }
        // They reached the app's fallback, so they count as its unmatched traffic.
        let sg = spyglass::global();
        let seen = eventually(|| async {
            let snap = serde_json::to_value(sg.stats().snapshot(Duration::from_secs(60))).unwrap();
            App::row(&snap, "GET", "<unmatched>")
                .filter(|r| r["count"] == 2)
                .cloned()
        })
        .await;
        assert!(seen.is_some(), "the fallback recorded both requests");
    }
}

/// Generates one `#[tokio::test]` per case for `harness` (an expression of a type implementing
/// [`Harness`]).
#[macro_export]
macro_rules! http_suite {
    ($harness:expr) => {
        $crate::http_suite!(@cases $harness;
            route_templates, unmatched, server_errors_not_client_errors, panics_become_500,
            bytes_in_and_out, head_requests_count_no_bytes_out, abandoned_requests_are_recorded,
            traceparent_in_and_out,
            instrumented_functions_nest, streamed_bodies_run_in_the_requests_context, exclusions,
            hook_labels_are_recorded,
            dashboard_traffic_not_counted,
            non_loopback_needs_token, dashboard_off);
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::cases::$case(&$harness).await;
            }
        )*
    };
}

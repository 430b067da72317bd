//! The HTTP behaviour of the example shop, the same for the axum example and its actix twin: each
//! test crate includes this file (the actix one by `#[path]`) and calls [`example_http_tests!`]
//! with its binary, so the two examples answer to one suite and cannot drift.
//!
//! Each test runs the real binary (bound to 127.0.0.1 on a free port), with its embedded SQLite
//! database, over real HTTP. The first checks that its queries reach `/_spyglass/api/stats` with
//! their fingerprints and `system` "sqlite", that the N+1 route is listed under `n_plus_one`, that a
//! constraint violation is a failed query, and that the queries nest under the `#[instrument]`ed
//! functions and the request. The second hits every route of the table the two examples share and
//! checks the answers and that each is recorded under its route template. The third sends `HEAD`
//! to GET routes (a health check's `curl -I`): the GET's status and headers, no body.

/// One `#[tokio::test]` per case of this suite, against the example binary at `$bin` (its
/// `env!("CARGO_BIN_EXE_…")`). The invoking crate declares this file as `mod example_http`.
macro_rules! example_http_tests {
    ($bin:expr) => {
        #[tokio::test]
        async fn sqlite_queries_and_n_plus_one_reach_the_dashboard_api() {
            crate::example_http::sqlite_queries_and_n_plus_one_reach_the_dashboard_api($bin).await;
        }

        #[tokio::test]
        async fn every_route_answers_and_is_recorded_under_its_template() {
            crate::example_http::every_route_answers_and_is_recorded_under_its_template($bin).await;
        }

        #[tokio::test]
        async fn head_on_get_routes_answers_200_without_a_body() {
            crate::example_http::head_on_get_routes_answers_200_without_a_body($bin).await;
        }
    };
}
pub(crate) use example_http_tests;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const USER_BY_ID: &str = "SELECT id, name, tier FROM users WHERE id = ?";
const LINES_OF_ORDER: &str = "SELECT p.name, i.quantity, p.price_cents * i.quantity \
     FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = ? ORDER BY p.name";
const RECENT_ORDERS: &str = "SELECT id, user_id, created_at FROM orders ORDER BY id DESC LIMIT ?";
const INSERT_USER: &str = "INSERT INTO users (name, email) VALUES (?) RETURNING id";

/// The example process, killed when the test ends (also on a failed assertion).
struct App {
    child: Child,
    base: String,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the example binary at `bin` on a free loopback port and waits for its dashboard URL.
fn start_app(bin: &str) -> App {
    let mut child = Command::new(bin)
        .args(["--port", "0"])
        .env_remove("SPYGLASS_DASHBOARD")
        .env_remove("SPYGLASS_DASHBOARD_TOKEN")
        .env_remove("SPYGLASS_PROMETHEUS")
        .env_remove("SPYGLASS_JSONL_DIR")
        .env_remove("SPYGLASS_CONSOLE")
        .env_remove("SPYGLASS_SAMPLE")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the example binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("Spyglass dashboard: ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let mut app = App {
        child,
        base: String::new(),
    };
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the example prints its dashboard URL within 60 s");
    app.base = url
        .strip_suffix("/_spyglass")
        .unwrap_or_else(|| panic!("dashboard URL ends in /_spyglass: {url}"))
        .to_string();
    assert!(
        app.base.starts_with("http://127.0.0.1:"),
        "loopback URL: {url}"
    );
    app
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// Status and body (as JSON when it parses, else as a JSON string) of a response.
async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, v)
}

async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    read(client.get(url).send().await.expect("GET")).await
}

async fn post_json(client: &reqwest::Client, url: &str, body: &str) -> (u16, Value) {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    read(r).await
}

/// Polls `/_spyglass/api/stats` until `ok` holds (requests and N+1 findings are recorded when the
/// collector thread ingests the request's events, shortly after the response), for at most 30 s.
async fn wait_for_stats(
    client: &reqwest::Client,
    base: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, stats) = get_json(client, &format!("{base}/_spyglass/api/stats")).await;
        assert_eq!(status, 200, "stats: {stats}");
        if ok(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last stats: {stats:#}"
        );
        tokio::task::yield_now().await;
    }
}

/// `GET /orders…` at `url`: answers `count` orders, each with its lines.
async fn recent_orders(client: &reqwest::Client, url: &str, count: usize) {
    let (status, orders) = get_json(client, url).await;
    assert_eq!(status, 200, "{orders}");
    let orders = orders.as_array().expect("a JSON array");
    assert_eq!(orders.len(), count, "{orders:?}");
    assert!(orders
        .iter()
        .all(|o| !o["lines"].as_array().expect("lines").is_empty()));
}

fn query<'a>(stats: &'a Value, statement: &str) -> Option<&'a Value> {
    stats["queries"]
        .as_array()?
        .iter()
        .find(|q| q["statement"] == statement)
}

fn has_n_plus_one_on_orders(stats: &Value) -> bool {
    stats["n_plus_one"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["route"] == "/orders"))
}

/// Queries, their fingerprints, the N+1 finding on `GET /orders` and the nesting of its queries.
pub(crate) async fn sqlite_queries_and_n_plus_one_reach_the_dashboard_api(bin: &str) {
    let app = start_app(bin);
    let client = client();
    let base = app.base.as_str();

    // A query route: one indexed lookup per request.
    let (status, user) = get_json(&client, &format!("{base}/users/42")).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["id"], 42);
    assert_eq!(user["tier"], "gold");
    let (status, _) = get_json(&client, &format!("{base}/users/20000")).await;
    assert_eq!(status, 404, "ids above 10000 are not seeded");

    // The N+1 route: one query for 8 orders, then one per order.
    recent_orders(&client, &format!("{base}/orders?limit=8"), 8).await;

    // A failing query: the seeded email is taken, the UNIQUE constraint rejects the INSERT.
    let (status, body) = post_json(
        &client,
        &format!("{base}/users"),
        r#"{"name":"ada","email":"ada.8@example.com"}"#,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body, "ada.8@example.com is already registered");

    let stats = wait_for_stats(
        &client,
        base,
        "the N+1 finding on GET /orders and the failed INSERT",
        |s| has_n_plus_one_on_orders(s) && query(s, INSERT_USER).is_some(),
    )
    .await;

    let by_id = query(&stats, USER_BY_ID).expect("user lookup fingerprint in queries");
    assert_eq!(by_id["system"], "sqlite");
    assert_eq!(by_id["count"], 2, "{by_id}");
    assert_eq!(by_id["rows"], 1, "one row found, one miss: {by_id}");
    assert_eq!(by_id["errors"], 0);

    let recent = query(&stats, RECENT_ORDERS).expect("recent orders fingerprint");
    assert_eq!(recent["system"], "sqlite");
    assert_eq!(recent["count"], 1);
    assert_eq!(recent["rows"], 8);

    let lines = query(&stats, LINES_OF_ORDER).expect("order lines fingerprint");
    assert_eq!(lines["system"], "sqlite");
    assert_eq!(lines["count"], 8, "{lines}");

    let insert = query(&stats, INSERT_USER).expect("user insert fingerprint");
    assert_eq!(insert["system"], "sqlite");
    assert_eq!(insert["count"], 1);
    assert_eq!(insert["errors"], 1, "the constraint violation: {insert}");

    // No bind value in any fingerprint.
    let all = stats["queries"].to_string();
    assert!(!all.contains("ada.8@example.com"), "{all}");

    let findings = stats["n_plus_one"].as_array().expect("n_plus_one");
    assert_eq!(findings.len(), 1, "only the /orders loop: {findings:?}");
    let f = &findings[0];
    assert_eq!(f["method"], "GET");
    assert_eq!(f["route"], "/orders");
    assert_eq!(f["statement"], LINES_OF_ORDER);
    assert_eq!(f["system"], "sqlite");
    assert_eq!(f["count"], 8);
    let trace_id = f["trace_id"].as_str().expect("trace id").to_string();

    // The loop's queries nest under `load_lines`, which nests under `recent_orders`, which nests
    // under the request: the middleware's trace context reaches the sqlx hook across awaits.
    let (_, db) = get_json(
        &client,
        &format!("{base}/_spyglass/api/events?kind=db&limit=500"),
    )
    .await;
    let (_, fns) = get_json(
        &client,
        &format!("{base}/_spyglass/api/events?kind=fn&limit=500"),
    )
    .await;
    let (_, reqs) = get_json(
        &client,
        &format!("{base}/_spyglass/api/events?kind=req&limit=500"),
    )
    .await;
    let in_trace = |v: &Value| -> Vec<Value> {
        v.as_array()
            .expect("events array")
            .iter()
            .filter(|e| e["trace_id"] == trace_id.as_str())
            .cloned()
            .collect()
    };
    let (db, fns, reqs) = (in_trace(&db), in_trace(&fns), in_trace(&reqs));
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let req_span = &reqs[0]["span_id"];
    let recent_fn: Vec<&Value> = fns
        .iter()
        .filter(|e| e["name"] == "recent_orders")
        .collect();
    assert_eq!(recent_fn.len(), 1, "{fns:?}");
    assert_eq!(&recent_fn[0]["parent_span_id"], req_span);
    let line_fns: Vec<&Value> = fns.iter().filter(|e| e["name"] == "load_lines").collect();
    assert_eq!(line_fns.len(), 8, "{fns:?}");
    assert!(line_fns
        .iter()
        .all(|e| e["parent_span_id"] == recent_fn[0]["span_id"]));
    let line_queries: Vec<&Value> = db
        .iter()
        .filter(|e| e["statement"] == LINES_OF_ORDER)
        .collect();
    assert_eq!(line_queries.len(), 8, "{db:?}");
    for q in &line_queries {
        assert!(
            line_fns.iter().any(|f| f["span_id"] == q["parent_span_id"]),
            "query not under a load_lines span: {q}"
        );
    }

    // The app keeps serving.
    let (status, _) = get_json(&client, &format!("{base}/users/7/orders")).await;
    assert_eq!(status, 200);
}

/// Every (method, route template) the example serves, with the requests the next test sends to
/// each. The same table as both examples' `routes.rs`, plus the unmatched path and a wrong method.
const EXPECTED_ROUTES: &[(&str, &str, u64)] = &[
    ("GET", "/", 1),
    ("GET", "/health", 1),
    ("GET", "/users/{id}", 3),
    ("GET", "/users/{id}/orders", 1),
    ("POST", "/users", 3),
    ("GET", "/orders", 1),
    ("POST", "/orders", 2),
    ("PUT", "/orders", 1),
    ("GET", "/search", 1),
    ("GET", "/reports/slow", 1),
    ("GET", "/slow", 1),
    ("GET", "/error", 1),
    ("GET", "/panic", 1),
    ("GET", "<unmatched>", 1),
];

fn recorded_routes(stats: &Value) -> Vec<(String, String, u64)> {
    let mut routes: Vec<(String, String, u64)> = stats["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            (
                r["method"].as_str().expect("method").to_string(),
                r["route"].as_str().expect("route").to_string(),
                r["count"].as_u64().expect("count"),
            )
        })
        .collect();
    routes.sort();
    routes
}

/// Every route: its answer, and its request recorded under its route template.
pub(crate) async fn every_route_answers_and_is_recorded_under_its_template(bin: &str) {
    let app = start_app(bin);
    let client = client();
    let base = app.base.as_str();

    let (status, body) = get_json(&client, &format!("{base}/")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.as_str().is_some_and(|b| b.contains("/_spyglass")));
    let (status, body) = get_json(&client, &format!("{base}/health")).await;
    assert_eq!((status, body), (200, Value::from("ok")));

    let (status, user) = get_json(&client, &format!("{base}/users/42")).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["name"], "linus");
    let (status, body) = get_json(&client, &format!("{base}/users/20000")).await;
    assert_eq!(status, 404, "{body}");

    // The N+1 route with its default limit: ten orders, each with its lines.
    recent_orders(&client, &format!("{base}/orders"), 10).await;

    let (status, orders) = get_json(&client, &format!("{base}/users/7/orders")).await;
    assert_eq!(status, 200, "{orders}");
    let orders = orders.as_array().expect("a JSON array");
    assert!(!orders.is_empty());
    assert!(orders.iter().all(|o| o["user_id"] == 7), "{orders:?}");

    // POST /users registers a customer the next GET finds; the same email again is a 409, a
    // malformed one a 422.
    let (status, created) = post_json(
        &client,
        &format!("{base}/users"),
        r#"{"name":"hedy","email":"hedy@example.com"}"#,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "hedy");
    assert_eq!(created["tier"], "standard");
    let id = created["id"].as_u64().expect("new user id");
    assert!(id > 10_000, "after the seeded users: {created}");
    let (status, found) = get_json(&client, &format!("{base}/users/{id}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found, created);
    let (status, body) = post_json(
        &client,
        &format!("{base}/users"),
        r#"{"name":"hedy","email":"hedy@example.com"}"#,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post_json(
        &client,
        &format!("{base}/users"),
        r#"{"name":"hedy","email":"no address"}"#,
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // POST /orders: the payment step fails one time in twenty on purpose (502); a quantity of 0
    // never reaches it (422).
    let (status, order) = post_json(
        &client,
        &format!("{base}/orders"),
        r#"{"user_id":5,"item":"cable","quantity":2}"#,
    )
    .await;
    match status {
        201 => {
            assert_eq!(order["user_id"], 5);
            assert_eq!(order["item"], "cable");
            assert_eq!(order["quantity"], 2);
        }
        502 => assert!(
            order
                .as_str()
                .is_some_and(|m| m.starts_with("payment gateway timeout")),
            "{order}"
        ),
        _ => panic!("POST /orders answered {status}: {order}"),
    }
    let (status, body) = post_json(
        &client,
        &format!("{base}/orders"),
        r#"{"user_id":5,"item":"cable","quantity":0}"#,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let r = client
        .put(format!("{base}/orders"))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 405, "a known path, another method");

    let (status, ranked) = get_json(&client, &format!("{base}/search?q=cable")).await;
    assert_eq!(status, 200, "{ranked}");
    assert_eq!(ranked[0][0], "cable", "{ranked}");
    for path in ["/reports/slow", "/slow"] {
        let (status, body) = get_json(&client, &format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body.as_str().is_some_and(|b| b.starts_with("report with ")),
            "{path}: {body}"
        );
    }
    let (status, _) = get_json(&client, &format!("{base}/error")).await;
    assert_eq!(status, 502);
    let (status, _) = get_json(&client, &format!("{base}/panic")).await;
    assert_eq!(status, 500, "the middleware turns the panic into a 500");
    let (status, _) = get_json(&client, &format!("{base}/static/app-1.js")).await;
    assert_eq!(status, 404);

    // Every request under its route template (never a raw path such as /users/42), and the N+1
    // finding on GET /orders.
    let total: u64 = EXPECTED_ROUTES.iter().map(|r| r.2).sum();
    let stats = wait_for_stats(&client, base, "every request and the N+1 finding", |s| {
        has_n_plus_one_on_orders(s)
            && s["requests"].as_array().is_some_and(|rs| {
                rs.iter().filter_map(|r| r["count"].as_u64()).sum::<u64>() >= total
            })
    })
    .await;
    let mut expected: Vec<(String, String, u64)> = EXPECTED_ROUTES
        .iter()
        .map(|&(m, r, c)| (m.to_string(), r.to_string(), c))
        .collect();
    expected.sort();
    assert_eq!(recorded_routes(&stats), expected);

    let errors = |method: &str, route: &str| {
        stats["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .find(|r| r["method"] == method && r["route"] == route)
            .map(|r| r["errors"].clone())
    };
    assert_eq!(errors("GET", "/error"), Some(Value::from(1)));
    assert_eq!(errors("GET", "/panic"), Some(Value::from(1)));
    assert_eq!(
        errors("GET", "/users/{id}"),
        Some(Value::from(0)),
        "a 404 is no error"
    );

    let findings = stats["n_plus_one"].as_array().expect("n_plus_one");
    assert_eq!(findings.len(), 1, "only the /orders loop: {findings:?}");
    assert_eq!(findings[0]["method"], "GET");
    assert_eq!(findings[0]["route"], "/orders");
    assert_eq!(findings[0]["statement"], LINES_OF_ORDER);
    assert_eq!(findings[0]["count"], 10);

    // The successful and the duplicate registration, the latter a failed query.
    let insert = query(&stats, INSERT_USER).expect("user insert fingerprint");
    assert_eq!(insert["count"], 2, "{insert}");
    assert_eq!(insert["errors"], 1, "{insert}");
}

/// `HEAD` on GET routes answers as the GET does, without a body (axum's `get` routes answer it; the
/// actix example routes it explicitly); another method on a known path gets 405.
pub(crate) async fn head_on_get_routes_answers_200_without_a_body(bin: &str) {
    let app = start_app(bin);
    let client = client();
    for path in ["/health", "/", "/users/42"] {
        let r = client
            .head(format!("{}{path}", app.base))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(r.status().as_u16(), 200, "HEAD {path}");
        assert!(r.headers().contains_key("traceparent"), "HEAD {path}");
        let body = r.bytes().await.expect("body");
        assert!(body.is_empty(), "HEAD {path}: {body:?}");
    }
    let r = client
        .delete(format!("{}/health", app.base))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status().as_u16(), 405, "another method on a known path");
}

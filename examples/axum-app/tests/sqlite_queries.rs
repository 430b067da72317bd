//! The example app as a user runs it: the real binary on a loopback port, its embedded SQLite
//! database, real HTTP. Checks that its queries reach `/_spyglass/api/stats` with their fingerprints
//! and `system` "sqlite", that the N+1 route is listed under `n_plus_one`, that a constraint
//! violation is a failed query, and that the queries nest under the `#[instrument]`ed functions.

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

fn start_app() -> App {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spyglass-example-axum"))
        .args(["--port", "0"])
        .env_remove("SPYGLASS_DASHBOARD")
        .env_remove("SPYGLASS_DASHBOARD_TOKEN")
        .env_remove("SPYGLASS_PROMETHEUS")
        .env_remove("SPYGLASS_JSONL_DIR")
        .env_remove("SPYGLASS_CONSOLE")
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

async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, v)
}

/// Polls `/_spyglass/api/stats` until `ok` holds (N+1 findings are made when the collector thread
/// ingests the request's events, shortly after the response), for at most 30 s.
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

fn query<'a>(stats: &'a Value, statement: &str) -> Option<&'a Value> {
    stats["queries"]
        .as_array()?
        .iter()
        .find(|q| q["statement"] == statement)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queries_and_n_plus_one_reach_the_dashboard_api() {
    let app = start_app();
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
    let (status, orders) = get_json(&client, &format!("{base}/orders?limit=8")).await;
    assert_eq!(status, 200, "{orders}");
    let orders = orders.as_array().expect("a JSON array");
    assert_eq!(orders.len(), 8);
    assert!(orders
        .iter()
        .all(|o| !o["lines"].as_array().expect("lines").is_empty()));

    // A failing query: the seeded email is taken, the UNIQUE constraint rejects the INSERT.
    let r = client
        .post(format!("{base}/users"))
        .header("content-type", "application/json")
        .body(r#"{"name":"ada","email":"ada.8@example.com"}"#)
        .send()
        .await
        .expect("POST /users");
    assert_eq!(r.status().as_u16(), 409);

    let stats = wait_for_stats(&client, base, "the N+1 finding on GET /orders", |s| {
        s["n_plus_one"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["route"] == "/orders"))
    })
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
    // under the request.
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

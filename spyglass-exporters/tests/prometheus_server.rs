//! The Prometheus exporter against the real tools: the exposition served over HTTP passes
//! `promtool check metrics`, and a real Prometheus server (Debian package, on loopback, temporary
//! config and data dir) scrapes it, loads `deploy/prometheus-alerts.yml`, and answers queries for
//! the route templates and every expression of the Grafana dashboard.
//!
//! One test per file: it installs the global instance (the health metrics come from it).
#![cfg(feature = "prometheus")]

mod support;

use std::time::Duration;

use spyglass_exporters::PrometheusExporter;

#[test]
fn real_prometheus_scrapes_the_exposition() {
    let Some(promtool) = support::tool("SPYGLASS_TEST_PROMTOOL", "promtool") else {
        return;
    };
    let Some(prometheus) = support::tool("SPYGLASS_TEST_PROMETHEUS", "prometheus") else {
        return;
    };
    let prom = PrometheusExporter::new();
    let handle = prom.handle();
    let _guard = spyglass_core::Spyglass::builder()
        .service_name("shop")
        .service_version("1.2.3")
        .exporter(prom)
        .install()
        .unwrap();
    let sg = spyglass_core::global();
    let em = sg.emitter();
    for i in 0..7u64 {
        em.emit_req("GET", "/users/{id}", 200, Duration::from_millis(3 + i));
    }
    for _ in 0..3 {
        em.emit_req("POST", "/orders", 201, Duration::from_millis(40));
    }
    em.emit_req("POST", "/orders", 503, Duration::from_millis(900));
    em.emit_fn("load_user", Duration::from_micros(250), false);
    em.emit_fn("charge", Duration::from_millis(30), true);
    em.emit_db(
        "SELECT * FROM users WHERE id = 42",
        Duration::from_millis(2),
        Some(1),
    );
    assert!(sg.flush(Duration::from_secs(30)));

    // The instance's renderer (what /_spyglass/metrics serves) and the handle render the same.
    let render = std::sync::Arc::new(move || handle.render());
    let port = support::serve_metrics(render);
    let (status, body) = support::http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}"} 7"#
    ), "{body}");
    assert!(body.contains(
        r#"spyglass_build_info{service_name="shop",service_version="1.2.3",spyglass_version=""#
    ));
    assert!(body.contains("spyglass_events_emitted_total 14"), "{body}");
    assert!(body.contains("spyglass_events_exported_total 14"), "{body}");
    assert!(body.contains("spyglass_events_dropped_total 0"), "{body}");
    assert!(body.contains("spyglass_queue_depth 0"), "{body}");
    assert_eq!(
        sg.render_metrics()
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("spyglass_"))
            .count(),
        body.lines().filter(|l| !l.starts_with("spyglass_")).count()
    );

    // promtool's linter accepts it.
    support::assert_promtool_accepts(&promtool, &body);

    // A real server scrapes it, with the alerting rules loaded.
    let server = support::PrometheusServer::start(
        &prometheus,
        "/metrics",
        &[port],
        &[support::deploy_dir().join("prometheus-alerts.yml")],
    );
    let routes = support::wait_until(60, "Prometheus to have scraped the route series", || {
        let v = server.query("http_server_request_duration_seconds_count");
        let result = v["data"]["result"].as_array()?.clone();
        (result.len() >= 3).then_some(result)
    });
    let mut seen: Vec<(String, String, String)> = routes
        .iter()
        .map(|r| {
            let m = &r["metric"];
            (
                m["http_route"].as_str().unwrap().to_string(),
                m["http_response_status_code"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/orders".into(), "201".into(), "3".into()),
            ("/orders".into(), "503".into(), "1".into()),
            ("/users/{id}".into(), "200".into(), "7".into()),
        ],
        "{}",
        server.log()
    );
    for r in &routes {
        assert_eq!(r["metric"]["job"], "spyglass");
    }

    // The alerting rules are loaded and healthy.
    let (_, rules) = support::http_get(server.port, "/api/v1/rules").unwrap();
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let mut names = Vec::new();
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(r["health"], "ok", "{r}");
            names.push(r["name"].as_str().unwrap().to_string());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "SpyglassEventsDropped",
            "SpyglassExportErrors",
            "SpyglassFunctionErrorRate",
            "SpyglassHighErrorRate",
            "SpyglassHighLatencyP99",
        ]
    );

    // Every dashboard expression runs on the real server.
    for e in support::dashboard_exprs() {
        let v = server.query(&e);
        assert_eq!(v["status"], "success", "{e}: {v}");
    }
    // The health and build-info series arrive too.
    let v = server.query("spyglass_build_info");
    assert_eq!(
        v["data"]["result"][0]["metric"]["service_name"], "shop",
        "{v}"
    );
    let v = server.query("spyglass_events_exported_total");
    assert_eq!(v["data"]["result"][0]["value"][1], "14", "{v}");
}

//! `deploy/`: the Prometheus alerting rules pass `promtool check rules` and their unit tests, and
//! the Grafana dashboard parses and refers only to metrics and labels the exporter exposes, in valid
//! PromQL.
#![cfg(feature = "prometheus")]

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use spyglass_core::Spyglass;
use spyglass_exporters::PrometheusExporter;

/// A real exposition with every kind of event and the health metrics.
fn exposition() -> String {
    let prom = PrometheusExporter::new();
    let handle = prom.handle();
    let sg = Spyglass::builder()
        .service_name("shop")
        .service_version("1.2.3")
        .exporter(prom)
        .build()
        .unwrap();
    let probe = sg.clone();
    handle.set_health_source(move || Some(probe.collector()));
    let em = sg.emitter();
    em.emit_req("GET", "/users/{id}", 200, Duration::from_millis(12));
    em.emit_req("POST", "/orders", 503, Duration::from_millis(40));
    em.emit_fn("load_user", Duration::from_micros(300), false);
    em.emit_fn("load_user", Duration::from_micros(300), true);
    em.emit_db(
        "SELECT * FROM users WHERE id = 1",
        Duration::from_millis(2),
        Some(1),
    );
    assert!(sg.flush(Duration::from_secs(30)));
    let text = handle.render();
    sg.shutdown();
    text
}

fn promtool() -> Option<std::path::PathBuf> {
    support::tool("SPYGLASS_TEST_PROMTOOL", "promtool")
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let dir = support::deploy_dir();
    let out = Command::new(&promtool)
        .args(["check", "rules", "prometheus-alerts.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    assert!(text.contains("SUCCESS: 5 rules found"), "{text}");

    let out = Command::new(&promtool)
        .args(["test", "rules", "prometheus-alerts.test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn dashboard_refers_only_to_exposed_metrics_and_labels() {
    let (metrics, labels) = support::exposed_names(&exposition());
    for m in [
        "http_server_request_duration_seconds_bucket",
        "function_calls_total",
        "function_calls_duration_seconds_count",
        "db_client_operation_duration_seconds_sum",
        "spyglass_events_emitted_total",
        "spyglass_events_dropped_total",
        "spyglass_events_exported_total",
        "spyglass_queue_depth",
        "spyglass_build_info",
    ] {
        assert!(metrics.contains(m), "{m} not exposed: {metrics:?}");
    }
    let exprs = support::dashboard_exprs();
    assert!(exprs.len() >= 20, "{} expressions", exprs.len());
    let mut used = HashSet::new();
    for e in &exprs {
        let (ms, ls) = support::promql_names(e);
        assert!(!ms.is_empty(), "no metric in {e}");
        for m in ms {
            assert!(
                metrics.contains(&m),
                "dashboard uses {m}, which the exporter does not expose: {e}"
            );
            used.insert(m);
        }
        for l in ls {
            assert!(
                labels.contains(&l),
                "dashboard uses label {l}, which the exporter does not expose: {e}"
            );
        }
    }
    // Every family appears on the dashboard.
    for family in [
        "http_server_request_duration_seconds",
        "function_calls",
        "db_client_operation",
        "spyglass_events_dropped",
        "spyglass_queue_depth",
    ] {
        assert!(
            used.iter().any(|m| m.starts_with(family)),
            "{family} missing from the dashboard"
        );
    }
}

#[test]
fn alert_rules_refer_only_to_exposed_metrics_and_labels() {
    let (metrics, labels) = support::exposed_names(&exposition());
    let text =
        std::fs::read_to_string(support::deploy_dir().join("prometheus-alerts.yml")).unwrap();
    // The expressions: every `expr:` value, single-line or a `|` block.
    let mut exprs = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((indent, rest)) = line.split_once("expr:") else {
            continue;
        };
        if indent.trim() != "" {
            continue;
        }
        if rest.trim() == "|" {
            let mut block = String::new();
            while let Some(l) = lines.peek() {
                if l.trim().is_empty() || l.len() - l.trim_start().len() > indent.len() {
                    block.push_str(l);
                    block.push('\n');
                    lines.next();
                } else {
                    break;
                }
            }
            exprs.push(block);
        } else {
            exprs.push(rest.trim().to_string());
        }
    }
    assert_eq!(exprs.len(), 5);
    for e in &exprs {
        let (ms, ls) = support::promql_names(e);
        assert!(!ms.is_empty(), "no metric in {e}");
        for m in ms {
            assert!(
                metrics.contains(&m),
                "alert uses {m}, which the exporter does not expose: {e}"
            );
        }
        for l in ls {
            assert!(
                labels.contains(&l),
                "alert uses label {l}, which the exporter does not expose: {e}"
            );
        }
    }
}

#[test]
fn dashboard_expressions_are_valid_promql() {
    let Some(promtool) = promtool() else { return };
    // promtool checks the syntax of recording rules: make one of each expression.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in support::dashboard_exprs().iter().enumerate() {
        let one_line = e.replace('\n', " ");
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: '{}'\n",
            one_line.replace('\'', "''")
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-rules.yml");
    std::fs::write(&path, &rules).unwrap();
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "invalid PromQL in the dashboard:\n{text}\n{rules}"
    );
}

#[test]
fn promql_scanner_sees_metrics_and_labels() {
    let (m, l) = support::promql_names(
        r#"histogram_quantile(0.99, sum by (http_route, le) (rate(http_server_request_duration_seconds_bucket{job=~".*", http_route=~"a{b}"}[5m]))) > 1 and on (job) up"#,
    );
    assert_eq!(m, ["http_server_request_duration_seconds_bucket", "up"]);
    assert_eq!(l, ["http_route", "le", "job", "http_route", "job"]);
}

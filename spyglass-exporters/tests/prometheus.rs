//! Prometheus exporter behaviour over a running instance: exact counts across batches with renders
//! racing the collector, bucket boundaries, health metrics, a user's registry, the route cap (which
//! counts routes, not status codes; its output passes `promtool check metrics`), and events dropped
//! under overload (in `spyglass_events_dropped_total`, not in the histograms).
#![cfg(feature = "prometheus")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spyglass_core::Spyglass;
use spyglass_exporters::prometheus::BUCKETS;
use spyglass_exporters::PrometheusExporter;

/// The value of every sample of `name` (exact name, any labels).
fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| (series, value.parse().unwrap()))
        })
        .collect()
}

#[test]
fn counts_are_exact_across_batches_while_renders_race_the_collector() {
    let prom = PrometheusExporter::new();
    let handle = prom.handle();
    let sg = Spyglass::builder()
        .service_name("shop")
        .queue_size(1 << 17)
        .batch_max(64)
        .exporter(prom)
        .build()
        .unwrap();
    let stop = AtomicBool::new(false);
    const THREADS: u64 = 4;
    const PER: u64 = 10_000;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut renders = 0;
            while !stop.load(Ordering::Relaxed) || renders == 0 {
                let text = handle.render();
                assert!(text.contains("# TYPE"), "{text}");
                renders += 1;
            }
        });
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let sg = &sg;
                s.spawn(move || {
                    for i in 0..PER {
                        let route = ["/a", "/b/{id}", "/c"][(i % 3) as usize];
                        let status = if i % 10 == 0 { 500 } else { 200 };
                        sg.emitter().emit_req(
                            "GET",
                            route,
                            status,
                            Duration::from_micros(100 * (t + 1)),
                        );
                        if i % 2 == 0 {
                            sg.emitter()
                                .emit_fn("work", Duration::from_micros(5), i % 4 == 0);
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        assert!(sg.flush(Duration::from_secs(60)));
        stop.store(true, Ordering::Relaxed);
    });
    let text = handle.render();
    assert_eq!(sg.collector().dropped, 0);
    let counts = samples(&text, "http_server_request_duration_seconds_count");
    assert_eq!(counts.len(), 6, "3 routes × 2 statuses: {counts:?}");
    let total: f64 = counts.iter().map(|(_, v)| v).sum();
    assert_eq!(total as u64, THREADS * PER);
    let errors: f64 = counts
        .iter()
        .filter(|(s, _)| s.contains(r#"http_response_status_code="500""#))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(errors as u64, THREADS * PER / 10);
    let calls = samples(&text, "function_calls_total");
    let ok: f64 = calls
        .iter()
        .filter(|(s, _)| s.contains(r#"result="ok""#))
        .map(|(_, v)| v)
        .sum();
    let err: f64 = calls
        .iter()
        .filter(|(s, _)| s.contains(r#"result="error""#))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        (ok as u64, err as u64),
        (THREADS * PER / 4, THREADS * PER / 4)
    );
    // +Inf bucket equals the count; sum of durations is exact to the microsecond.
    let inf: f64 = samples(&text, "http_server_request_duration_seconds_bucket")
        .iter()
        .filter(|(s, _)| s.contains(r#"le="+Inf""#))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(inf as u64, THREADS * PER);
    let sum: f64 = samples(&text, "http_server_request_duration_seconds_sum")
        .iter()
        .map(|(_, v)| v)
        .sum();
    let expected = (1..=THREADS)
        .map(|t| 100e-6 * t as f64 * PER as f64)
        .sum::<f64>();
    assert!((sum - expected).abs() < 1e-6, "{sum} vs {expected}");
    sg.shutdown();
}

#[test]
fn buckets_are_opentelemetry_defaults_from_5ms_to_10s() {
    let prom = PrometheusExporter::new();
    let handle = prom.handle();
    let sg = Spyglass::builder().exporter(prom).build().unwrap();
    sg.emitter()
        .emit_req("GET", "/x", 200, Duration::from_millis(7));
    sg.emitter()
        .emit_db("SELECT 1", Duration::from_millis(7), None);
    sg.emitter().emit_fn("f", Duration::from_millis(7), false);
    assert!(sg.flush(Duration::from_secs(30)));
    let text = handle.render();
    for family in [
        "http_server_request_duration_seconds_bucket",
        "db_client_operation_duration_seconds_bucket",
        "function_calls_duration_seconds_bucket",
    ] {
        let les: Vec<String> = samples(&text, family)
            .iter()
            .map(|(s, _)| {
                let body = s.split_once('{').unwrap().1.trim_end_matches('}');
                body.split(',')
                    .find_map(|kv| kv.strip_prefix("le=\""))
                    .unwrap()
                    .trim_end_matches('"')
                    .to_string()
            })
            .collect();
        let mut expected: Vec<String> = BUCKETS.iter().map(|b| b.to_string()).collect();
        expected.push("+Inf".into());
        assert_eq!(les, expected, "{family}");
        // 7 ms falls in the 10 ms bucket and above, not in the 5 ms one.
        let values: Vec<f64> = samples(&text, family).iter().map(|(_, v)| *v).collect();
        assert_eq!(values[0], 0.0);
        assert!(values[1..].iter().all(|v| *v == 1.0));
    }
    // The statement label is the redacted fingerprint, never the SQL with its literals.
    assert!(
        text.contains(r#"db_client_operation_duration_seconds_count{db_query_summary="SELECT ?",db_system_name="other_sql"} 1"#),
        "{text}"
    );
    sg.shutdown();
}

#[test]
fn health_metrics_of_a_private_instance_come_from_its_collector() {
    let prom = PrometheusExporter::new();
    let handle = prom.handle();
    let sg = Spyglass::builder()
        .service_name("svc")
        .exporter(prom)
        .build()
        .unwrap();
    for _ in 0..5 {
        sg.emitter().emit_fn("f", Duration::from_millis(1), false);
    }
    assert!(sg.flush(Duration::from_secs(30)));
    let text = handle.render();
    assert!(text.contains(
        r#"spyglass_build_info{service_name="svc",service_version="",spyglass_version="#
    ));
    for line in [
        "spyglass_events_emitted_total 5",
        "spyglass_events_exported_total 5",
        "spyglass_events_dropped_total 0",
        "spyglass_export_errors_total 0",
        "spyglass_queue_depth 0",
        "spyglass_queue_capacity 2048",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    // An explicit source wins.
    handle.set_health_source(|| None);
    let text = handle.render();
    assert!(!text.contains("spyglass_events_emitted_total"), "{text}");
    sg.shutdown();
}

#[test]
fn a_users_registry_renders_both() {
    let registry = prometheus::Registry::new();
    let mine = prometheus::IntCounter::new("shop_orders_total", "Orders.").unwrap();
    registry.register(Box::new(mine.clone())).unwrap();
    mine.inc_by(3);
    let prom = PrometheusExporter::with_registry(registry.clone()).unwrap();
    let handle = prom.handle();
    let sg = Spyglass::builder().exporter(prom).build().unwrap();
    sg.emitter()
        .emit_req("GET", "/x", 200, Duration::from_millis(1));
    assert!(sg.flush(Duration::from_secs(30)));
    let text = handle.render();
    assert!(text.contains("shop_orders_total 3"));
    assert!(text.contains("http_server_request_duration_seconds_count"));
    // Registering twice in one registry is an error, not a panic.
    assert!(PrometheusExporter::with_registry(registry).is_err());
    sg.shutdown();
}

/// `promtool check metrics` on `text`: passes and reports nothing (skipped without promtool outside
/// CI).
fn assert_promtool_accepts(text: &str) {
    if let Some(promtool) = support::tool("SPYGLASS_TEST_PROMTOOL", "promtool") {
        support::assert_promtool_accepts(&promtool, text);
    }
}

/// `routes` routes × 4 statuses, one request each, through an instance whose exporter keeps at most
/// `cap` routes; returns the exposition and the instance's stats for `/r{last}`.
fn routes_by_statuses(routes: usize, cap: Option<usize>) -> (String, u64, u64) {
    let mut prom = PrometheusExporter::new();
    if let Some(cap) = cap {
        prom = prom.max_series(cap);
    }
    let handle = prom.handle();
    let sg = Spyglass::builder()
        .service_name("shop")
        .queue_size(1 << 14)
        .exporter(prom)
        .build()
        .unwrap();
    // One shared name per route, as a router hands out.
    let names: Vec<spyglass_core::Name> = (0..routes)
        .map(|i| std::sync::Arc::<str>::from(format!("/r{i}")).into())
        .collect();
    for status in [200, 404, 500, 503] {
        for route in &names {
            sg.emitter()
                .emit_req("GET", route.clone(), status, Duration::from_millis(1));
        }
    }
    assert!(sg.flush(Duration::from_secs(30)));
    assert_eq!(sg.collector().dropped, 0);
    let text = handle.render();
    let last = format!("/r{}", routes - 1);
    let stats = sg.stats().snapshot(Duration::from_secs(900));
    let row = stats
        .requests
        .iter()
        .find(|r| r.route.as_str() == last)
        .expect("the stats have the last route");
    let (count, errors) = (row.count, row.errors);
    sg.shutdown();
    (text, count, errors)
}

#[test]
fn a_route_under_the_cap_keeps_every_status_it_answers_with() {
    // 300 routes × 4 statuses = 1200 label sets, but only 300 routes: far under the cap of 1000.
    let (text, count, errors) = routes_by_statuses(300, None);
    // The dashboard's stats have /r299 with its errors, and so do the metrics.
    assert_eq!((count, errors), (4, 2));
    for status in [200, 404, 500, 503] {
        let line = format!(
            r#"http_server_request_duration_seconds_count{{http_request_method="GET",http_response_status_code="{status}",http_route="/r299"}} 1"#
        );
        assert!(text.lines().any(|l| l == line), "{line} missing");
    }
    assert!(!text.contains("<other>"), "nothing folds under the cap");
    let counts = samples(&text, "http_server_request_duration_seconds_count");
    assert_eq!(counts.len(), 1200);
    assert_promtool_accepts(&text);
}

#[test]
fn routes_past_the_cap_fold_into_other_with_their_statuses() {
    // A cap of 300 routes: the first 300 keep their statuses, the next 10 fold.
    let (text, _, _) = routes_by_statuses(310, Some(300));
    for status in [200, 404, 500, 503] {
        let kept = format!(
            r#"http_server_request_duration_seconds_count{{http_request_method="GET",http_response_status_code="{status}",http_route="/r299"}} 1"#
        );
        assert!(text.lines().any(|l| l == kept), "{kept} missing");
        let folded = format!(
            r#"http_server_request_duration_seconds_count{{http_request_method="GET",http_response_status_code="{status}",http_route="<other>"}} 10"#
        );
        assert!(text.lines().any(|l| l == folded), "{folded} missing");
    }
    assert!(!text.contains(r#"http_route="/r300""#));
    let counts = samples(&text, "http_server_request_duration_seconds_count");
    assert_eq!(counts.len(), 300 * 4 + 4);
    assert_promtool_accepts(&text);
}

/// Blocks the collector in its first export until released, so that the queue overflows.
struct Stall {
    entered: std::sync::mpsc::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
    first: bool,
}

impl spyglass_core::export::Exporter for Stall {
    fn export(
        &mut self,
        _batch: &spyglass_core::export::Batch<'_>,
    ) -> Result<(), spyglass_core::export::ExportError> {
        if std::mem::take(&mut self.first) {
            self.entered.send(()).unwrap();
            self.release.recv().unwrap();
        }
        Ok(())
    }
}

#[test]
fn events_dropped_under_overload_are_in_the_dropped_counter_not_the_histograms() {
    const QUEUE: u64 = 64;
    const OVER: u64 = 10;
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let prom = PrometheusExporter::new();
    let handle = prom.handle();
    let sg = Spyglass::builder()
        .service_name("shop")
        .queue_size(QUEUE as usize)
        .exporter(prom)
        .exporter(Stall {
            entered: entered_tx,
            release: release_rx,
            first: true,
        })
        .build()
        .unwrap();
    let em = sg.emitter();
    em.emit_req("GET", "/x", 200, Duration::from_millis(1));
    entered.recv().unwrap();
    // The collector is stuck in its first export: the queue holds QUEUE events, the oldest OVER
    // of these are displaced.
    for _ in 0..QUEUE + OVER {
        em.emit_req("GET", "/x", 200, Duration::from_millis(1));
    }
    release.send(()).unwrap();
    assert!(sg.flush(Duration::from_secs(30)));
    let text = handle.render();

    // The histograms count what the exporter received: spyglass_events_exported_total.
    let received: f64 = samples(&text, "http_server_request_duration_seconds_count")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(received as u64, 1 + QUEUE);
    let line = |name: &str| samples(&text, name)[0].1 as u64;
    assert_eq!(line("spyglass_events_exported_total"), 1 + QUEUE);
    assert_eq!(line("spyglass_events_dropped_total"), OVER);
    // emitted = exported + dropped (+ queued, none after a flush); the stats count them all.
    assert_eq!(line("spyglass_events_emitted_total"), 1 + QUEUE + OVER);
    let stats = sg.stats().snapshot(Duration::from_secs(900));
    assert_eq!(stats.requests[0].count, 1 + QUEUE + OVER);
    sg.shutdown();
}

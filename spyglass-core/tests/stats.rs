//! The stats store against known distributions, caps and the SPEC §6 JSON.

use std::time::Duration;

use spyglass_core::Spyglass;

fn within(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= want * rel
}

#[test]
fn percentiles_of_a_known_distribution() {
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let em = sg.emitter();
    // 1..=10_000 µs, shuffled: p50 = 5 ms, p90 = 9 ms, p95 = 9.5 ms, p99 = 9.9 ms, max = 10 ms.
    let mut durs: Vec<u64> = (1..=10_000).collect();
    fastrand::shuffle(&mut durs);
    for (i, us) in durs.iter().enumerate() {
        let status = if i % 100 == 0 {
            500
        } else if i % 10 == 0 {
            404
        } else {
            200
        };
        em.emit_req("GET", "/users/{id}", status, Duration::from_micros(*us));
    }
    let snap = sg.stats().snapshot(Duration::from_secs(900));
    let r = &snap.requests[0];
    assert_eq!(r.count, 10_000);
    assert_eq!(r.errors, 100, "5xx are errors, 4xx are not");
    assert!((r.error_rate - 0.01).abs() < 1e-12);
    // Bucket resolution is 12.5%, reported at the midpoint: within 6.25%.
    for (got, want) in [
        (r.p50_ms, 5.0),
        (r.p90_ms, 9.0),
        (r.p95_ms, 9.5),
        (r.p99_ms, 9.9),
    ] {
        assert!(within(got, want, 0.0625), "got {got}, want {want}");
    }
    assert_eq!(r.max_ms, 10.0, "max is exact");
    assert!(r.p99_ms <= r.max_ms);
    assert_eq!(snap.service.as_ref(), "shop");
    assert_eq!(snap.window_secs, 900);
}

#[test]
fn keys_past_the_cap_fold_into_other() {
    let sg = Spyglass::builder().max_keys(10).build().unwrap();
    let em = sg.emitter();
    for i in 0..50 {
        let route: String = format!("/r{i}");
        em.emit_req("GET", route, 200, Duration::from_millis(1));
        em.emit_fn(format!("f{i}"), Duration::from_millis(1), false);
        em.emit_db(
            &format!("SELECT * FROM t{i}"),
            Duration::from_millis(1),
            None,
        );
    }
    assert_eq!(sg.stats().key_counts(), (10, 10, 10));
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    assert_eq!(snap.requests.len(), 11);
    let other = snap.requests.iter().find(|r| r.route == "<other>").unwrap();
    assert_eq!(other.count, 40);
    assert_eq!(snap.requests.iter().map(|r| r.count).sum::<u64>(), 50);
    assert_eq!(
        snap.functions
            .iter()
            .find(|f| f.name == "<other>")
            .unwrap()
            .count,
        40
    );
    assert_eq!(
        snap.queries
            .iter()
            .find(|q| q.statement == "<other>")
            .unwrap()
            .count,
        40
    );
    // Memory stays bounded: a flood of new keys creates no new series.
    for i in 0..10_000 {
        em.emit_req("GET", format!("/flood{i}"), 200, Duration::from_millis(1));
    }
    assert_eq!(sg.stats().key_counts(), (10, 10, 10));
}

#[test]
fn queries_are_fingerprinted_and_counted_with_rows_and_slow() {
    let sg = Spyglass::builder()
        .slow_query(Duration::from_millis(100))
        .build()
        .unwrap();
    let em = sg.emitter();
    em.emit_db(
        "SELECT * FROM users WHERE id = 42",
        Duration::from_millis(8),
        Some(1),
    );
    em.emit_db(
        "SELECT * FROM users WHERE id = 43",
        Duration::from_millis(150),
        Some(1),
    );
    em.emit_db_with(
        "sqlite",
        "INSERT INTO t VALUES (1)",
        Duration::from_millis(1),
        None,
        Some("UNIQUE constraint failed"),
    );
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    let q = &snap.queries[0];
    assert_eq!(q.statement, "SELECT * FROM users WHERE id = ?");
    assert_eq!((q.count, q.rows, q.slow, q.errors), (2, 2, 1, 0));
    let ins = &snap.queries[1];
    assert_eq!(ins.statement, "INSERT INTO t VALUES (?)");
    assert_eq!((ins.system, ins.errors), ("sqlite", 1));
}

#[test]
fn snapshot_json_has_the_spec_fields() {
    let sg = Spyglass::builder().service_name("shop").build().unwrap();
    let em = sg.emitter();
    em.emit_req("GET", "/users/{id}", 200, Duration::from_millis(2));
    em.emit_fn("load_user", Duration::from_micros(100), false);
    em.emit_db("SELECT 1", Duration::from_micros(100), Some(1));
    let v = serde_json::to_value(sg.stats().snapshot(Duration::from_secs(900))).unwrap();
    for k in [
        "service",
        "window_secs",
        "generated_at_ms",
        "requests",
        "functions",
        "queries",
        "collector",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    for k in [
        "method",
        "route",
        "count",
        "errors",
        "error_rate",
        "rps",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "bytes_in",
        "bytes_out",
    ] {
        assert!(v["requests"][0].get(k).is_some(), "requests.{k}");
    }
    for k in [
        "name", "module", "count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms",
    ] {
        assert!(v["functions"][0].get(k).is_some(), "functions.{k}");
    }
    for k in [
        "statement",
        "system",
        "count",
        "rows",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
    ] {
        assert!(v["queries"][0].get(k).is_some(), "queries.{k}");
    }
    for k in [
        "emitted",
        "exported",
        "dropped",
        "queue_depth",
        "queue_capacity",
        "export_errors",
    ] {
        assert!(v["collector"].get(k).is_some(), "collector.{k}");
    }
    assert_eq!(v["collector"]["queue_capacity"], 2048);
    assert!(v["requests"][0]["p50_ms"].is_f64());
}

#[test]
fn timeseries_has_one_point_per_bucket() {
    let sg = Spyglass::builder().build().unwrap();
    sg.emitter()
        .emit_req("GET", "/a", 500, Duration::from_millis(3));
    let ts = sg.stats().timeseries(Duration::from_secs(60), 5);
    assert_eq!(ts.overall.len(), 6, "60 s of 10 s buckets");
    assert_eq!(ts.overall.iter().map(|p| p.count).sum::<u64>(), 1);
    assert_eq!(ts.overall.iter().map(|p| p.errors).sum::<u64>(), 1);
    assert_eq!(ts.routes.len(), 1);
    assert!(ts.overall.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
}

#[test]
fn n_plus_one_is_found_for_a_loop_and_not_for_distinct_queries() {
    use spyglass_core::context::TraceContext;
    use spyglass_core::event::{EventKind, ReqEvent};
    let sg = Spyglass::builder().n_plus_one_threshold(5).build().unwrap();
    let em = sg.emitter();
    let request = |route: &'static str, body: &dyn Fn()| {
        let ctx = sg.new_request_context(None, None);
        ctx.in_scope(body);
        em.emit_span(
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
    };
    request("/loop", &|| {
        for id in 0..7 {
            em.emit_db(
                &format!("SELECT * FROM items WHERE id = {id}"),
                Duration::from_micros(50),
                Some(1),
            );
        }
    });
    request("/distinct", &|| {
        for t in 0..7 {
            em.emit_db(
                &format!("SELECT * FROM t{t}"),
                Duration::from_micros(50),
                Some(1),
            );
        }
    });
    assert!(sg.flush(Duration::from_secs(10)));
    let snap = sg.stats().snapshot(Duration::from_secs(60));
    assert_eq!(snap.n_plus_one.len(), 1, "{:?}", snap.n_plus_one);
    let f = &snap.n_plus_one[0];
    assert_eq!(f.route, "/loop");
    assert_eq!(f.statement, "SELECT * FROM items WHERE id = ?");
    assert_eq!((f.count, f.occurrences), (7, 1));
    let _ = TraceContext::new_root(true);
}

#[test]
fn a_batch_counts_requests_exactly_as_one_by_one() {
    use spyglass_core::Event;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // 300 requests over the last 50 s, their buckets interleaved (so a batch goes back and forth
    // between epochs, some behind the newest), with spread durations and some failures.
    let events: Vec<Event> = (0..300u64)
        .map(|i| {
            let dur = 1_000 + (i * 7_919) % 50_000_000;
            let status = if i % 13 == 0 { 503 } else { 200 };
            let route = if i % 3 == 0 { "/a" } else { "/b" };
            let mut ev = Event::request("GET", route, status, dur);
            let ago = ((i * 37) % 5) * 10_000_000_000 + (i % 10) * 1_000;
            ev.ts_ns = now - ago - dur;
            ev
        })
        .collect();
    let batched = Spyglass::builder().build().unwrap();
    let single = Spyglass::builder().build().unwrap();
    // Several batch sizes, around the one where the batch starts summing.
    for chunk in events.chunks(100).chain(events.chunks(7)).take(7) {
        batched.stats().record_batch(chunk);
    }
    let fed: usize = events
        .chunks(100)
        .chain(events.chunks(7))
        .take(7)
        .map(|c| c.len())
        .sum();
    let mut n = 0;
    for chunk in events.chunks(100).chain(events.chunks(7)).take(7) {
        for ev in chunk {
            single.stats().record(ev);
            n += 1;
        }
    }
    assert_eq!(n, fed);
    let view = |sg: &Spyglass| {
        let ts = sg.stats().timeseries(Duration::from_secs(60), 5);
        let points: Vec<_> = ts
            .overall
            .iter()
            .map(|p| {
                (
                    p.ts_ms, p.count, p.errors, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms,
                )
            })
            .collect();
        let snap = sg.stats().snapshot(Duration::from_secs(60));
        let routes: Vec<_> = snap
            .requests
            .iter()
            .map(|r| (r.route.to_string(), r.count, r.errors))
            .collect();
        (points, routes)
    };
    // Read both within one bucket (retry if a bucket boundary passed in between).
    let (a, b) = loop {
        let (a, b) = (view(&batched), view(&single));
        if a.0.iter().map(|p| p.0).eq(b.0.iter().map(|p| p.0)) {
            break (a, b);
        }
    };
    assert_eq!(a, b);
    assert_eq!(a.0.iter().map(|p| p.1).sum::<u64>(), fed as u64);
    assert!(a.0.iter().filter(|p| p.1 > 0).count() >= 5, "{:?}", a.0);
}

#[test]
fn a_batch_of_mixed_kinds_counts_each_series_exactly_as_one_by_one() {
    use spyglass_core::Event;
    // Requests, functions and queries interleaved as a collector batch holds them, over several
    // keys of each kind, with spread durations, failures and row counts.
    let events: Vec<Event> = (0..600u64)
        .map(|i| {
            let dur = 1_000 + (i * 7_919) % 20_000_000;
            match i % 3 {
                0 => {
                    let route = if i % 4 == 0 { "/a" } else { "/b" };
                    Event::request("GET", route, if i % 11 == 0 { 500 } else { 200 }, dur)
                }
                1 => {
                    let name = if i % 5 == 0 { "load" } else { "save" };
                    Event::function(name, "shop", dur, i % 7 == 0)
                }
                _ => {
                    let sql = if i % 2 == 0 {
                        "SELECT * FROM users WHERE id = ?"
                    } else {
                        "UPDATE users SET seen = ? WHERE id = ?"
                    };
                    Event::query(sql, "sqlite", Some(i % 4), dur)
                }
            }
        })
        .collect();
    let batched = Spyglass::builder().build().unwrap();
    let single = Spyglass::builder().build().unwrap();
    for chunk in events.chunks(128) {
        batched.stats().record_batch(chunk);
    }
    for ev in &events {
        single.stats().record(ev);
    }
    let view = |sg: &Spyglass| {
        let snap = sg.stats().snapshot(Duration::from_secs(60));
        let mut requests: Vec<_> = snap
            .requests
            .iter()
            .map(|r| {
                (
                    r.route.to_string(),
                    r.count,
                    r.errors,
                    r.p50_ms.to_bits(),
                    r.p99_ms.to_bits(),
                )
            })
            .collect();
        let mut functions: Vec<_> = snap
            .functions
            .iter()
            .map(|f| (f.name.to_string(), f.count, f.errors, f.p50_ms.to_bits()))
            .collect();
        let mut queries: Vec<_> = snap
            .queries
            .iter()
            .map(|q| (q.statement.to_string(), q.count, q.rows))
            .collect();
        requests.sort();
        functions.sort();
        queries.sort();
        (requests, functions, queries)
    };
    let (a, b) = (view(&batched), view(&single));
    assert_eq!(a, b);
    assert_eq!(a.0.len(), 2);
    assert_eq!(a.1.len(), 2);
    assert_eq!(a.2.len(), 2);
    assert_eq!(a.0.iter().map(|r| r.1).sum::<u64>(), 200);
    assert_eq!(a.1.iter().map(|f| f.1).sum::<u64>(), 200);
    assert_eq!(a.2.iter().map(|q| q.1).sum::<u64>(), 200);
}

//! Time to answer the dashboard's JSON API with 1000 routes, 200 functions and 200 queries in the
//! stats store (15-minute window, every bucket filled), measured through `Dashboard::handle` as a
//! middleware calls it.
//!
//! ```text
//! cargo run --release -p spyglass-benches-http-load --bin dashboard_api
//! ```
//!
//! Results (2 vCPUs shared with other builds, load average ~10 during the run, so the p99 column is
//! mostly scheduling noise; rustc 1.95.0, release):
//!
//! | path | mean | p99 | body |
//! | --- | ---: | ---: | ---: |
//! | `/api/stats?window=900` | 2.26 ms | 6.42 ms | 279 KiB |
//! | `/api/stats?window=60` | 2.75 ms | 10.13 ms | 292 KiB |
//! | `/api/timeseries?window=900` | 6.64 ms | 12.82 ms | 56 KiB |
//! | `/api/events?limit=100` | 0.37 ms | 4.37 ms | 35 KiB |
//! | `/api/errors?limit=100` | 0.39 ms | 7.28 ms | 34 KiB |
//! | `/api/traces` | 0.09 ms | 0.12 ms | 17 KiB |

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spyglass::Spyglass;
use spyglass_dashboard::{Dashboard, DashboardRequest};

fn main() {
    let sg = Spyglass::builder()
        .service_name("bench")
        .build()
        .expect("instance");
    let em = sg.emitter();
    let routes: Vec<String> = (0..1000)
        .map(|i| format!("/api/v1/resource{i}/{{id}}"))
        .collect();
    let fns: Vec<String> = (0..200).map(|i| format!("function_{i}")).collect();
    let queries: Vec<String> = (0..200)
        .map(|i| format!("SELECT * FROM table_{i} WHERE id = 1"))
        .collect();
    for round in 0..20u64 {
        for (i, r) in routes.iter().enumerate() {
            let status = if (i as u64 + round) % 50 == 0 {
                500
            } else {
                200
            };
            em.emit_req(
                "GET",
                r.clone(),
                status,
                Duration::from_micros(200 + (i as u64 * 37 + round * 101) % 20_000),
            );
        }
        for f in &fns {
            em.emit_fn(f.clone(), Duration::from_micros(50 + round * 13), false);
        }
        for q in &queries {
            em.emit_db(q, Duration::from_micros(80 + round * 7), Some(round));
        }
    }
    sg.flush(Duration::from_secs(10));
    let dash = Dashboard::new(sg.clone());
    let headers = http::HeaderMap::new();
    let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    println!("| path | mean | p99 | body |");
    println!("| --- | ---: | ---: | ---: |");
    for (path, query) in [
        ("/api/stats", Some("window=900")),
        ("/api/stats", Some("window=60")),
        ("/api/timeseries", Some("window=900")),
        ("/api/events", Some("limit=100")),
        ("/api/errors", Some("limit=100")),
        ("/api/traces", None),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..200 {
            let t = Instant::now();
            let resp = dash.handle(DashboardRequest {
                method: &http::Method::GET,
                path,
                query,
                headers: &headers,
                authority: None,
                peer: Some(peer),
            });
            let body = resp.body.into_bytes().expect("full body");
            times.push(t.elapsed());
            size = body.len();
            assert_eq!(resp.status, 200);
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        let p99 = times[times.len() * 99 / 100];
        let q = query.map(|q| format!("?{q}")).unwrap_or_default();
        println!(
            "| `{path}{q}` | {:.2} ms | {:.2} ms | {} KiB |",
            mean.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            size / 1024
        );
    }
}

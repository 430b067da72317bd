//! The middlewares' own cost, without sockets and with the variants interleaved: the in-process app
//! of `benches/middleware.rs` (real routing, extractor and responder, each body sent to its end),
//! bare, with a pass-through middleware, with `spyglass_actix::Spyglass` and with `actix-web-prom`,
//! all in one process pinned to one core (re-executed under `taskset -c 0` unless its affinity is
//! one core already), so the Spyglass collector thread takes its time from the same core, as in
//! `benches/load.rs`.
//!
//! Each round serves `--requests` requests (default 20 000) with every variant in turn, in a
//! rotating order, and times each batch by the wall clock. Host noise that lasts longer than a
//! batch (tens of milliseconds) touches the variants of a round alike and cancels in their ratio;
//! the kernel's TCP stack, whose time dominates a loopback request and moves by several percent
//! between rounds, is not in it. What is left is the user-space cost each middleware adds to
//! serving a request, which ranks them to a fraction of a percent in a minute.
//!
//! ```text
//! cargo bench -p spyglass-actix --bench interleaved                        # 200 rounds
//! cargo bench -p spyglass-actix --bench interleaved -- --rounds 400 --requests 10000
//! ```
//!
//! It prints each variant's median time per request, and the median over rounds of one variant's
//! throughput over another's in the same round, with its 95 % interval. Results:
//! `benches/README.md` (Middleware).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::init_service;
use actix_web::App;
use spyglass_benches_http_load::{median, median_with_interval};

#[path = "support/app.rs"]
mod app;
use app::{one, routes};

/// A variant: its name, and what times `n` of its requests.
type Variant<'a> = (&'static str, Box<dyn Fn(usize) -> Duration + 'a>);

fn variant<'a, S, B>(rt: &'a actix_web::rt::SystemRunner, name: &'static str, app: S) -> Variant<'a>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'a,
    B: MessageBody,
{
    let time = move |n| {
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..n {
                one(&app).await;
            }
        });
        start.elapsed()
    };
    (name, Box::new(time))
}

/// Whether this process may run on one CPU only (`Cpus_allowed_list` of `/proc/self/status`).
fn pinned() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().parse::<u32>().is_ok())
        })
        .unwrap_or(false)
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("{name} takes a positive whole number")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if !pinned() {
        // One core for the whole process, the collector thread included.
        let status = Command::new("taskset")
            .args(["-c", "0"])
            .args(&args)
            .status();
        return match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("cannot run taskset (Debian package util-linux): {e}");
                ExitCode::FAILURE
            }
        };
    }
    let (rounds, requests) = match (
        arg(&args, "--rounds", 200),
        arg(&args, "--requests", 20_000),
    ) {
        (Ok(r), Ok(n)) => (r, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = actix_web::rt::System::new();
    let prom = match actix_web_prom::PrometheusMetricsBuilder::new("api")
        .endpoint("/metrics")
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("actix-web-prom: {e}");
            return ExitCode::FAILURE;
        }
    };
    let variants: Vec<Variant<'_>> = vec![
        variant(
            &rt,
            "bare",
            rt.block_on(init_service(App::new().configure(routes))),
        ),
        variant(
            &rt,
            "noop",
            rt.block_on(init_service(
                App::new()
                    .configure(routes)
                    .wrap_fn(|req, srv| Service::call(srv, req)),
            )),
        ),
        variant(
            &rt,
            "spyglass",
            rt.block_on(init_service(
                App::new()
                    .configure(routes)
                    .wrap(spyglass_actix::Spyglass::new()),
            )),
        ),
        variant(
            &rt,
            "prometheus",
            rt.block_on(init_service(App::new().configure(routes).wrap(prom))),
        ),
    ];
    // Warm-up: caches, the interning tables, the collector thread started.
    for (_, time) in &variants {
        time(requests);
    }
    println!(
        "{rounds} rounds of {requests} requests per variant, in process, on one core (interleaved)"
    );
    let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let took = variants[i].1(requests);
            ns[i].push(took.as_nanos() as f64 / requests as f64);
        }
    }
    println!("\n| variant | median time per request |\n| --- | ---: |");
    for (i, (name, _)) in variants.iter().enumerate() {
        println!("| {name} | {:.0} ns |", median(ns[i].clone()));
    }
    // Throughput over throughput in the same round: the inverse ratio of the times.
    let over = |a: usize, b: usize| {
        median_with_interval(
            ns[a]
                .iter()
                .zip(&ns[b])
                .map(|(x, y)| 100.0 * y / x)
                .collect(),
        )
    };
    let names: Vec<&str> = variants.iter().map(|v| v.0).collect();
    println!("\nThroughput of the row over the column's, same round (median [95 % interval]):\n");
    println!("| | {} |", names.join(" | "));
    println!("| --- |{}", " ---: |".repeat(names.len()));
    for a in 0..names.len() {
        let cells: Vec<String> = (0..names.len())
            .map(|b| if a == b { "–".into() } else { over(a, b) })
            .collect();
        println!("| {} | {} |", names[a], cells.join(" | "));
    }
    ExitCode::SUCCESS
}

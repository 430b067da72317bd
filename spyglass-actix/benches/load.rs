//! Load comparison over loopback: the same actix-web app served bare, with a pass-through middleware,
//! wrapped in `spyglass_actix::Spyglass`, and wrapped in `actix-web-prom` (the middleware an actix
//! user would otherwise pick). Each variant runs as its own server process (this binary, re-executed with
//! `--serve VARIANT`, one actix worker) pinned to core 0; `wrk` (Debian package `wrk`) pinned to
//! core 1 loads `GET /users/{id}` over loopback: 1 thread, 32 keep-alive connections, 1 s warm-up then
//! `--secs` (default 5) measured, one run per variant (or `--rounds N`, interleaved, medians), same
//! client for all. Besides wrk's requests/s and p99, the server process's CPU time per request is
//! read from `/proc`.
//!
//! ```text
//! cargo bench -p spyglass-actix --bench load                     # all variants, 5 s each
//! cargo bench -p spyglass-actix --bench load -- --secs 5 bare spyglass
//! cargo bench -p spyglass-actix --bench load -- --rounds 3   # interleaved rounds, medians
//! ```
//!
//! Results, with the machine and how to read them: `benches/README.md` (Middleware). Rounds run
//! the variants interleaved in a rotating order; besides each variant's median round, the table
//! gives the median over rounds of its throughput over bare's in the same round.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpServer};

const VARIANTS: &[(&str, &str)] = &[
    ("bare", "bare actix-web"),
    (
        "noop",
        "a pass-through `wrap_fn` (what any middleware costs)",
    ),
    ("spyglass", "spyglass_actix::Spyglass"),
    ("prometheus", "actix-web-prom 0.10"),
];

async fn user(id: web::Path<u64>) -> String {
    let id = id.into_inner();
    format!(r#"{{"id":{id},"name":"user-{id}"}}"#)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}", web::get().to(user))
        .route("/health", web::get().to(|| async { "ok" }));
}

/// Server mode: `load --serve VARIANT`; prints `listening on PORT`.
fn serve(variant: &str) -> ExitCode {
    // One macro arm per variant: the three apps differ in type.
    macro_rules! run {
        ($factory:expr) => {{
            let server = HttpServer::new($factory)
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))?;
            println!("listening on {}", server.addrs()[0].port());
            server.run().await
        }};
    }
    let variant = variant.to_string();
    let res = actix_web::rt::System::new().block_on(async move {
        match variant.as_str() {
            "bare" => run!(|| App::new().configure(routes)),
            "noop" => run!(|| App::new()
                .configure(routes)
                .wrap_fn(|req, srv| actix_web::dev::Service::call(srv, req))),
            "spyglass" => run!(|| App::new()
                .configure(routes)
                .wrap(spyglass_actix::Spyglass::new())),
            "prometheus" => {
                let prom = actix_web_prom::PrometheusMetricsBuilder::new("api")
                    .endpoint("/metrics")
                    .build()
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                run!(move || App::new().configure(routes).wrap(prom.clone()))
            }
            other => Err(std::io::Error::other(format!("unknown variant '{other}'"))),
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(variant: &str) -> Result<(Server, u16), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(["--serve", variant])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server under taskset: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port: u16 = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("unexpected server output '{line}'"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("server did not accept connections".into());
        }
        std::thread::yield_now();
    }
    Ok((server, port))
}

/// CPU time (user + system, every thread) the server process has used, in seconds, from
/// `/proc/PID/stat` (clock ticks of 1/100 s).
fn cpu_secs(server: &Server) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.0.id()))
        .map_err(|e| format!("cannot read the server's CPU time: {e}"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => Ok((u + s) / 100.0),
        _ => Err(format!("unexpected /proc stat line: {stat}")),
    }
}

/// One measured run: (requests/s, p99 ms, server CPU µs per request).
type Measured = (f64, f64, f64);

fn measure(server: &Server, port: u16, secs: u64) -> Result<Measured, String> {
    let before = cpu_secs(server)?;
    let (rps, p99) = wrk(port, secs)?;
    let used = cpu_secs(server)? - before;
    Ok((rps, p99, used * 1e6 / (rps * secs as f64)))
}

fn wrk(port: u16, secs: u64) -> Result<(f64, f64), String> {
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", "-c32"])
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg(format!("http://127.0.0.1:{port}/users/42"))
        .output()
        .map_err(|e| format!("cannot run wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk saw errors:\n{text}"));
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_latency(v.trim()))
        .ok_or_else(|| format!("no 99% latency in:\n{text}"))?;
    Ok((rps, p99))
}

/// wrk latency (`812.00us`, `1.23ms`, `2.00s`) in milliseconds.
fn parse_latency(v: &str) -> Option<f64> {
    let (num, mul) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * mul)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        return serve(args.get(1).map(String::as_str).unwrap_or("bare"));
    }
    let mut secs = 5;
    let mut rounds = 1;
    let mut chosen: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            // Passed by `cargo bench`.
            "--bench" => {}
            "--rounds" => {
                rounds = match it.next().and_then(|s| s.parse().ok()) {
                    Some(r) if r > 0 => r,
                    _ => {
                        eprintln!("--rounds needs a whole number above 0");
                        return ExitCode::from(2);
                    }
                }
            }
            "--secs" => {
                secs = match it.next().and_then(|s| s.parse().ok()) {
                    Some(s) => s,
                    None => {
                        eprintln!("--secs needs a whole number");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => match VARIANTS.iter().find(|(v, _)| v == a) {
                Some((v, _)) => chosen.push(v),
                None => {
                    eprintln!(
                        "unknown argument '{a}'; variants: {}",
                        VARIANTS.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
                    );
                    return ExitCode::from(2);
                }
            },
        }
    }
    if chosen.is_empty() {
        chosen = VARIANTS.iter().map(|v| v.0).collect();
    }
    // Rounds interleave the variants (bare, spyglass, prometheus, bare, …) so that load from other
    // processes on a shared machine hits each about equally; each variant's median is reported.
    let mut runs: Vec<(&str, Vec<Measured>)> = chosen.iter().map(|v| (*v, Vec::new())).collect();
    for round in 0..rounds {
        // Rotate the order each round so no variant always runs first.
        let n = runs.len();
        for k in 0..n {
            let (v, got) = &mut runs[(k + round) % n];
            let run = || -> Result<Measured, String> {
                let (server, port) = start(v)?;
                wrk(port, 1)?; // warm-up
                measure(&server, port, secs)
            };
            match run() {
                Ok((rps, p99, cpu)) => {
                    eprintln!(
                        "round {}: {v}: {rps:.0} req/s, p99 {p99:.2} ms, server CPU {cpu:.1} µs/request",
                        round + 1
                    );
                    got.push((rps, p99, cpu));
                }
                Err(e) => {
                    eprintln!("{v}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    // Each round's throughput over bare's in the same round, then the median: pairs taken minutes
    // apart by the same noise, so drift between rounds cancels.
    let bare_runs = runs.iter().find(|r| r.0 == "bare").map(|r| r.1.clone());
    let paired: Vec<Option<f64>> = runs
        .iter()
        .map(|(_, got)| {
            bare_runs
                .as_ref()
                .map(|b| median(got.iter().zip(b).map(|(x, bx)| x.0 / bx.0).collect()))
        })
        .collect();
    let results: Vec<(&str, f64, f64, f64)> = runs
        .into_iter()
        .map(|(v, got)| {
            (
                v,
                median(got.iter().map(|g| g.0).collect()),
                median(got.iter().map(|g| g.1).collect()),
                median(got.iter().map(|g| g.2).collect()),
            )
        })
        .collect();
    let bare = results
        .iter()
        .find(|r| r.0 == "bare")
        .map(|r| (r.1, r.2, r.3));
    println!(
        "| variant | requests/s | p99 | server CPU per request | vs bare | \
         throughput vs bare, median of rounds |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for ((v, rps, p99, cpu), pair) in results.iter().zip(&paired) {
        let label = VARIANTS.iter().find(|x| x.0 == *v).map_or(*v, |x| x.1);
        let ratio = bare.map_or("–".to_string(), |(b, bp, bc)| {
            format!(
                "{:.1} % of the throughput, p99 ×{:.2}, CPU ×{:.3}",
                100.0 * rps / b,
                p99 / bp,
                cpu / bc
            )
        });
        let pair = pair.map_or("–".to_string(), |p| format!("{:.1} %", 100.0 * p));
        println!("| {label} | {rps:.0} | {p99:.2} ms | {cpu:.1} µs | {ratio} | {pair} |");
    }
    ExitCode::SUCCESS
}

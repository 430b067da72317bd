//! HTTP load comparison: the same axum app served bare, with `SpyglassLayer`, with tower-http's
//! `TraceLayer` under a `tracing` subscriber (formatting every request's events into a sink), and with
//! `axum-prometheus`. Each variant runs as its own server process pinned to core 0; `wrk` (Debian
//! package `wrk`) pinned to core 1 loads `GET /users/{id}` over loopback: 1 thread, 32 keep-alive
//! connections, 2 s warm-up then 8 s measured, one run per variant.
//!
//! ```text
//! cargo run --release -p spyglass-benches-http-load --bin http-load                 # all variants, one run
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- --rounds 3 --secs 5
//! cargo run --release -p spyglass-benches-http-load --bin http-load -- bare spyglass
//! ```
//!
//! Results, with the machine and how to read them: `benches/README.md` (Middleware). Rounds run
//! the variants interleaved in a rotating order; besides each variant's median round, the table
//! gives the median over rounds of its throughput over bare's in the same round.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;

const VARIANTS: &[(&str, &str)] = &[
    ("bare", "bare axum"),
    ("spyglass", "SpyglassLayer"),
    (
        "trace",
        "tower-http TraceLayer + tracing-subscriber fmt (sink)",
    ),
    ("prometheus", "axum-prometheus"),
];

async fn user(Path(id): Path<u64>) -> String {
    format!(r#"{{"id":{id},"name":"user-{id}"}}"#)
}

fn routes() -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/health", get(|| async { "ok" }))
}

fn app(variant: &str) -> Result<Router, String> {
    Ok(match variant {
        "bare" => routes(),
        "spyglass" => routes().layer(spyglass::axum::SpyglassLayer::new()),
        // Diagnostic, not in the default set: the layer with recording switched off.
        "spyglass-disabled" => {
            let sg = spyglass::Spyglass::builder()
                .enabled(false)
                .build()
                .map_err(|e| e.to_string())?;
            routes().layer(spyglass::axum::SpyglassLayer::with_instance(sg))
        }
        "trace" => {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(std::io::sink)
                .init();
            routes().layer(tower_http::trace::TraceLayer::new_for_http())
        }
        "prometheus" => {
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            routes()
                .route("/metrics", get(move || async move { handle.render() }))
                .layer(layer)
        }
        other => return Err(format!("unknown variant '{other}'")),
    })
}

/// Server mode: `http-load --serve VARIANT`; prints `listening on PORT`.
fn serve(variant: &str) -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // Built inside the runtime: axum-prometheus spawns its upkeep task on creation.
    let app = match rt.block_on(async { app(variant) }) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("listening on {}", l.local_addr().expect("addr").port());
        axum::serve(
            l,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    ExitCode::SUCCESS
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(variant: &str) -> Result<(Server, u16, u32), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(["--serve", variant])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server under taskset: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let pid = child.id();
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
    Ok((server, port, pid))
}

/// CPU time (user + system) the process has used so far, in seconds, from `/proc/PID/stat`.
fn cpu_secs(pid: u32, ticks_per_sec: f64) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|x| x.1).ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or("bad /proc stat")
    };
    Ok((ticks(11)? + ticks(12)?) / ticks_per_sec)
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One measured run: requests/s, p99 (ms), total requests.
fn wrk(port: u16, secs: u64) -> Result<(f64, f64, f64), String> {
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
    let total = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|x| x.0.trim().to_string())
        })
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no request count in:\n{text}"))?;
    Ok((rps, p99, total))
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
    let mut secs = 8;
    let mut rounds = 1;
    let mut chosen: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--secs" {
            secs = match it.next().and_then(|s| s.parse().ok()) {
                Some(s) => s,
                None => {
                    eprintln!("--secs needs a whole number");
                    return ExitCode::from(2);
                }
            };
        } else if a == "--rounds" {
            rounds = match it.next().and_then(|s| s.parse().ok()) {
                Some(r) if r > 0 => r,
                _ => {
                    eprintln!("--rounds needs a whole number above 0");
                    return ExitCode::from(2);
                }
            };
        } else if let Some((v, _)) = VARIANTS.iter().find(|(v, _)| v == a) {
            chosen.push(v);
        } else if a == "spyglass-disabled" {
            chosen.push("spyglass-disabled");
        } else {
            eprintln!(
                "unknown argument '{a}'; variants: {}",
                VARIANTS.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
            );
            return ExitCode::from(2);
        }
    }
    if chosen.is_empty() {
        chosen = VARIANTS.iter().map(|v| v.0).collect();
    }
    // Rounds run the variants interleaved (a, b, c, d, then b, c, d, a, …) so a noisy neighbour
    // hurts them alike; each variant reports its median round.
    let tck = clk_tck();
    let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); chosen.len()];
    for round in 0..rounds {
        // Rotate the order each round so no variant always runs first.
        for k in 0..chosen.len() {
            let i = (k + round) % chosen.len();
            let v = &chosen[i];
            let run = || -> Result<(f64, f64, f64), String> {
                let (_server, port, pid) = start(v)?;
                wrk(port, 2)?; // warm-up
                let cpu0 = cpu_secs(pid, tck)?;
                let (rps, p99, total) = wrk(port, secs)?;
                let cpu = cpu_secs(pid, tck)? - cpu0;
                Ok((rps, p99, cpu / total * 1e6))
            };
            match run() {
                Ok((rps, p99, cpu_us)) => {
                    eprintln!(
                        "round {}: {v}: {rps:.0} req/s, p99 {p99:.2} ms, server CPU {cpu_us:.1} µs/request",
                        round + 1
                    );
                    runs[i].push((rps, p99, cpu_us));
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
    let bare_i = chosen.iter().position(|v| *v == "bare");
    let paired: Vec<Option<f64>> = runs
        .iter()
        .map(|r| bare_i.map(|b| median(r.iter().zip(&runs[b]).map(|(x, bx)| x.0 / bx.0).collect())))
        .collect();
    let results: Vec<(&str, f64, f64, f64)> = chosen
        .iter()
        .zip(runs)
        .map(|(v, r)| {
            (
                *v,
                median(r.iter().map(|x| x.0).collect()),
                median(r.iter().map(|x| x.1).collect()),
                median(r.iter().map(|x| x.2).collect()),
            )
        })
        .collect();
    let bare = results.iter().find(|r| r.0 == "bare").copied();
    println!(
        "| variant | requests/s | p99 | server CPU per request | vs bare: throughput, p99, CPU | \
         throughput vs bare, median of rounds |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for ((v, rps, p99, cpu), pair) in results.iter().zip(&paired) {
        let label = VARIANTS.iter().find(|x| x.0 == *v).map_or(*v, |x| x.1);
        let ratio = bare.map_or("–".to_string(), |(_, b, bp, bc)| {
            format!(
                "{:.1} %, ×{:.2}, ×{:.2}",
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

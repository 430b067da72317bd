//! HTTP load comparison: the same axum app served bare, with `SpyglassLayer`, with tower-http's
//! `TraceLayer` under a `tracing` subscriber (formatting every request's events into a sink), and with
//! `axum-prometheus`. Each variant runs as its own server process pinned to core 0; `wrk` (Debian
//! package `wrk`) pinned to core 1 loads `GET /users/{id}` over loopback: 1 thread, 32 keep-alive
//! connections, 2 s warm-up then 8 s measured, one run per variant.
//!
//! ```text
//! cargo run --release -p spyglass-benches-http-load            # all variants
//! cargo run --release -p spyglass-benches-http-load -- --secs 8 bare spyglass
//! ```
//!
//! Results (one run; 2 shared vCPUs, so ±3 % between runs is noise; rustc 1.95.0, Debian 12,
//! release profile; wrk 4.1.0, `-t1 -c32 -d8s`):
//!
//! | variant | requests/s | p99 | vs bare |
//! | --- | ---: | ---: | ---: |
//! | bare axum | RESULTS_BARE |
//! | SpyglassLayer | RESULTS_SPYGLASS |
//! | tower-http TraceLayer + tracing-subscriber fmt (sink) | RESULTS_TRACE |
//! | axum-prometheus | RESULTS_PROM |

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
    let mut secs = 8;
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
        } else if let Some((v, _)) = VARIANTS.iter().find(|(v, _)| v == a) {
            chosen.push(v);
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
    let mut results: Vec<(&str, f64, f64)> = Vec::new();
    for v in &chosen {
        let run = || -> Result<(f64, f64), String> {
            let (_server, port) = start(v)?;
            wrk(port, 2)?; // warm-up
            wrk(port, secs)
        };
        match run() {
            Ok((rps, p99)) => {
                eprintln!("{v}: {rps:.0} req/s, p99 {p99:.2} ms");
                results.push((v, rps, p99));
            }
            Err(e) => {
                eprintln!("{v}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let bare = results.iter().find(|r| r.0 == "bare").map(|r| (r.1, r.2));
    println!("| variant | requests/s | p99 | vs bare |");
    println!("| --- | ---: | ---: | ---: |");
    for (v, rps, p99) in &results {
        let label = VARIANTS.iter().find(|x| x.0 == *v).map_or(*v, |x| x.1);
        let ratio = bare.map_or("–".to_string(), |(b, bp)| {
            format!(
                "{:.1} % of the throughput, p99 ×{:.2}",
                100.0 * rps / b,
                p99 / bp
            )
        });
        println!("| {label} | {rps:.0} | {p99:.2} ms | {ratio} |");
    }
    ExitCode::SUCCESS
}

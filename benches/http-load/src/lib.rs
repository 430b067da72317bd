//! The load runner shared by the HTTP load harnesses (`http-load` here, axum; and
//! `spyglass-actix/benches/load.rs`, actix-web): each harness keeps only its app variants and a
//! `serve` function, and hands them to [`Harness::main`].
//!
//! Each variant runs as its own server process, the harness binary re-executed as
//! `BIN --serve VARIANT APP` under `taskset -c 0`; the server prints `listening on PORT` on its
//! first line of standard output. `wrk` (Debian package `wrk`) pinned to core 1 loads
//! `GET /users/42` over loopback: 1 thread, 32 keep-alive connections, a warm-up run, then the
//! measured run. Besides wrk's requests/s and p99, the server process's CPU time per request is
//! read from `/proc`: in all, in user mode, and in its `spyglass-…` threads (the collector; to
//! the microsecond from `sched`, the others in 10 ms clock ticks), printed per run on standard
//! error and as medians in a second table. Throughput is also compared in pairs: the median over
//! rounds of one variant's requests/s over another's in the same round, with a 95 % interval for
//! that median.
//!
//! Command line: `BIN [--rounds N] [--secs N] [--app NAME] [VARIANT…]` (no variant named: all of
//! the table's; no app named: the harness's first), and `BIN --serve VARIANT APP`. Each harness
//! serves three apps: `plain`, a handler that formats a string (the layer's cost against almost
//! nothing), `shop`, the example app's SQLite-backed `GET /users/{id}` (a request of a real
//! service, with an `#[instrument]`ed function and a query under it), and `shop-sqlx`, that
//! handler without Spyglass in it (a plain sqlx pool, no `#[instrument]`), where the middleware is
//! the only difference between the variants and each records the request alone. Rounds run the variants
//! interleaved in a rotating order, so a noisy
//! neighbour hurts them alike; each variant reports its median round, and besides that the median
//! over rounds of its throughput over bare's in the same round. Results go to standard output as
//! markdown tables, one line per run to standard error.
//!
//! This library needs none of the package's features; the `apps` feature (on by default) brings
//! the axum apps' dependencies for the binaries.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// A harness: its variants, how long it measures, and how its table words the comparison with
/// bare.
#[derive(Debug, Clone, Copy)]
pub struct Harness {
    /// The variants run when none is named, in table order: command-line name and row label. The
    /// one named `bare` is what the others are compared with.
    pub variants: &'static [(&'static str, &'static str)],
    /// Further variant names accepted on the command line but not run by default (diagnostics);
    /// their rows are labelled with the name.
    pub hidden: &'static [&'static str],
    /// Measured seconds per run when `--secs` is not given.
    pub default_secs: u64,
    /// Seconds of the warm-up run before each measured one.
    pub warmup_secs: u64,
    /// Header of the table's column comparing a variant's median round with bare's.
    pub vs_bare_header: &'static str,
    /// That column's cell, from the ratios over bare of throughput, p99 and CPU per request.
    pub vs_bare: fn(throughput: f64, p99: f64, cpu: f64) -> String,
}

/// The apps every harness serves, chosen with `--app NAME`: name and what `GET /users/42` does in
/// it. The first, `plain`, is the default; `shop` is the example app's (see the crate docs).
pub const APPS: &[(&str, &str)] = &[
    ("plain", "a handler that formats a string"),
    (
        "shop",
        "the example app's handler: an `#[instrument]`ed function runs one SQLite query \
         (sqlx, in memory) and answers JSON",
    ),
    (
        "shop-sqlx",
        "the example app's handler without Spyglass in it: the same SQLite query through a plain \
         sqlx pool, no `#[instrument]` (the middleware is the only difference between variants)",
    ),
];

/// What a run of the harness measures: rounds, seconds per run, the app and the variants.
#[derive(Debug, PartialEq)]
struct Plan<'a> {
    rounds: usize,
    secs: u64,
    app: &'a str,
    chosen: Vec<&'a str>,
}

/// One measured run, or the medians of a variant's runs.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// Requests per second.
    rps: f64,
    /// p99 latency in milliseconds.
    p99: f64,
    /// The server's CPU per request in µs: in all, in user mode, and in its Spyglass threads.
    cpu: f64,
    user: f64,
    spyglass: f64,
}

impl Measured {
    /// The median of each field over `runs`.
    fn medians(runs: &[Measured]) -> Measured {
        let m = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
        Measured {
            rps: m(|x| x.rps),
            p99: m(|x| x.p99),
            cpu: m(|x| x.cpu),
            user: m(|x| x.user),
            spyglass: m(|x| x.spyglass),
        }
    }
}

impl Harness {
    /// Runs the harness on this process's arguments. With `--serve VARIANT APP` it calls
    /// `serve(VARIANT, APP)` (which must print `listening on PORT` and then serve until killed) and
    /// returns what that returns; otherwise it parses `--rounds N --secs N --app NAME [VARIANT…]`
    /// (`--bench`, passed by `cargo bench`, is ignored), runs the rounds, and prints the table.
    /// Exit code 2 on a bad argument, failure when a run fails.
    pub fn main(&self, serve: impl FnOnce(&str, &str) -> ExitCode) -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("--serve") {
            let arg = |i: usize, default: &'static str| args.get(i).map_or(default, String::as_str);
            return serve(arg(1, "bare"), arg(2, APPS[0].0));
        }
        let plan = match self.parse_args(&args) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        match self.run_rounds(&plan) {
            Ok(runs) => {
                let what = APPS.iter().find(|a| a.0 == plan.app).map_or("", |a| a.1);
                println!("App `{}`: {what}\n", plan.app);
                self.print_table(&plan.chosen, &runs);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    }

    /// `--rounds N --secs N --app NAME [VARIANT…]` into a plan.
    fn parse_args<'a>(&'a self, args: &[String]) -> Result<Plan<'a>, String> {
        let mut secs = self.default_secs;
        let mut rounds = 1;
        let mut app = APPS[0].0;
        let mut chosen: Vec<&str> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                // Passed by `cargo bench`.
                "--bench" => {}
                "--rounds" => {
                    rounds = match it.next().and_then(|s| s.parse().ok()) {
                        Some(r) if r > 0 => r,
                        _ => return Err("--rounds needs a whole number above 0".into()),
                    }
                }
                "--secs" => {
                    secs = it
                        .next()
                        .and_then(|s| s.parse().ok())
                        .ok_or("--secs needs a whole number")?;
                }
                "--app" => {
                    let name = it.next().map(String::as_str).unwrap_or_default();
                    app = match APPS.iter().find(|a| a.0 == name) {
                        Some(a) => a.0,
                        None => {
                            let names: Vec<&str> = APPS.iter().map(|a| a.0).collect();
                            return Err(format!("--app needs one of: {}", names.join(", ")));
                        }
                    };
                }
                _ => match self
                    .variants
                    .iter()
                    .map(|v| v.0)
                    .chain(self.hidden.iter().copied())
                    .find(|v| v == a)
                {
                    Some(v) => chosen.push(v),
                    None => {
                        return Err(format!(
                            "unknown argument '{a}'; variants: {}",
                            self.variants
                                .iter()
                                .map(|v| v.0)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    }
                },
            }
        }
        if chosen.is_empty() {
            chosen = self.variants.iter().map(|v| v.0).collect();
        }
        Ok(Plan {
            rounds,
            secs,
            app,
            chosen,
        })
    }

    /// Runs `rounds` rounds of the chosen variants, interleaved (a, b, c, then b, c, a, …), and
    /// returns each variant's runs in round order.
    fn run_rounds(&self, plan: &Plan<'_>) -> Result<Vec<Vec<Measured>>, String> {
        let (rounds, secs, chosen) = (plan.rounds, plan.secs, &plan.chosen);
        let tck = clk_tck();
        let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); chosen.len()];
        for round in 0..rounds {
            // Rotate the order each round so no variant always runs first.
            for k in 0..chosen.len() {
                let i = (k + round) % chosen.len();
                let v = chosen[i];
                let run = || -> Result<(f64, f64, [f64; 3]), String> {
                    let server = Server::start(v, plan.app)?;
                    wrk(server.port, self.warmup_secs)?;
                    let before = cpu_secs(server.pid, tck)?;
                    let (rps, p99, total) = wrk(server.port, secs)?;
                    let after = cpu_secs(server.pid, tck)?;
                    let per_request = |k: usize| (after[k] - before[k]) / total * 1e6;
                    Ok((rps, p99, [per_request(0), per_request(1), per_request(2)]))
                };
                let (rps, p99, [cpu_us, user_us, sg_us]) =
                    run().map_err(|e| format!("{v}: {e}"))?;
                eprintln!(
                    "round {}: {v}: {rps:.0} req/s, p99 {p99:.2} ms, server CPU {cpu_us:.2} µs/request \
                     (user {user_us:.2}, Spyglass threads {sg_us:.2})",
                    round + 1
                );
                runs[i].push(Measured {
                    rps,
                    p99,
                    cpu: cpu_us,
                    user: user_us,
                    spyglass: sg_us,
                });
            }
        }
        Ok(runs)
    }

    /// The markdown tables: each variant's median round, its ratios over bare's median round, and
    /// the median over rounds of its throughput over bare's in the same round with that median's
    /// 95 % interval; then the medians of its CPU time per request, split; then, for every two
    /// variants, the same paired ratio.
    fn print_table(&self, chosen: &[&str], runs: &[Vec<Measured>]) {
        let bare_i = chosen.iter().position(|v| *v == "bare");
        let medians: Vec<Measured> = runs.iter().map(|r| Measured::medians(r)).collect();
        let bare = bare_i.map(|b| medians[b]);
        println!(
            "| variant | requests/s | p99 | server CPU per request | {} | \
             throughput vs bare in the same round: median [95 % interval] |",
            self.vs_bare_header
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for (i, (v, m)) in chosen.iter().zip(&medians).enumerate() {
            let label = self.label(v);
            let (rps, p99, cpu) = (m.rps, m.p99, m.cpu);
            let ratio = bare.map_or("–".to_string(), |b| {
                (self.vs_bare)(rps / b.rps, p99 / b.p99, cpu / b.cpu)
            });
            // Each round's throughput over bare's in the same round: the two runs are seconds
            // apart and share that round's noise, so drift between rounds cancels.
            let pair = bare_i.map_or("–".to_string(), |b| paired_ratio(&runs[i], &runs[b]));
            println!("| {label} | {rps:.0} | {p99:.2} ms | {cpu:.1} µs | {ratio} | {pair} |");
        }
        // User time is the steadier measure: the kernel's share of a loopback request moves by
        // more between runs than a middleware's whole cost.
        println!(
            "\n| variant | server CPU per request, median of rounds: user | system | \
             of which Spyglass threads (user + system) | user added to bare's |"
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        for (v, m) in chosen.iter().zip(&medians) {
            let added = bare.map_or("–".to_string(), |b| format!("{:+.2} µs", m.user - b.user));
            println!(
                "| {} | {:.2} µs | {:.2} µs | {:.2} µs | {added} |",
                self.label(v),
                m.user,
                m.cpu - m.user,
                m.spyglass
            );
        }
        // Whether a variant is above another is read from their ratio in the same round, not from
        // two medians each with its own noise.
        let others: Vec<usize> = (0..chosen.len()).filter(|&i| Some(i) != bare_i).collect();
        if others.len() > 1 {
            print!("\n| throughput in the same round, row over column |");
            for &j in &others {
                print!(" {} |", self.label(chosen[j]));
            }
            print!("\n| --- |");
            for _ in &others {
                print!(" ---: |");
            }
            println!();
            for &i in &others {
                print!("| {} |", self.label(chosen[i]));
                for &j in &others {
                    let cell = if i == j {
                        "–".to_string()
                    } else {
                        paired_ratio(&runs[i], &runs[j])
                    };
                    print!(" {cell} |");
                }
                println!();
            }
        }
    }

    /// A variant's row label: its table label, or its name for a hidden one.
    fn label<'a>(&self, v: &'a str) -> &'a str {
        self.variants.iter().find(|x| x.0 == v).map_or(v, |x| x.1)
    }
}

/// The median over rounds of `runs`' throughput over `base`'s in the same round, with the 95 %
/// interval of that median, as `97.1 % [95.0–98.3]` (the interval left out below six rounds).
fn paired_ratio(runs: &[Measured], base: &[Measured]) -> String {
    median_with_interval(
        runs.iter()
            .zip(base)
            .map(|(x, b)| 100.0 * x.rps / b.rps)
            .collect(),
    )
}

/// The median of `ratios` (percentages, one per round) with its 95 % interval, as
/// `97.1 % [95.0–98.3]` (the interval left out below six rounds).
pub fn median_with_interval(ratios: Vec<f64>) -> String {
    let m = median(ratios.clone());
    match median_interval(ratios) {
        Some((lo, hi)) => format!("{m:.1} % [{lo:.1}–{hi:.1}]"),
        None => format!("{m:.1} %"),
    }
}

/// A distribution-free interval holding the median of what `xs` samples with at least 95 %
/// confidence: the `k`-th smallest and `k`-th largest sample, `k` the largest rank for which fewer
/// than `k` samples fall below the median with probability at most 2.5 % (binomial, p = ½). `None`
/// below six samples, where even the whole range holds less than 95 %.
fn median_interval(mut xs: Vec<f64>) -> Option<(f64, f64)> {
    let n = xs.len();
    // P(B ≤ j) for B ~ Binomial(n, ½), summed term by term.
    let mut term = 0.5f64.powi(n as i32);
    let mut below = 0.0;
    let mut k = 0;
    for j in 0..n {
        below += term;
        if below > 0.025 {
            break;
        }
        k = j + 1;
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    if k == 0 {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    Some((xs[k - 1], xs[n - k]))
}

/// The middle element (the upper one of an even count) of a non-empty list.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// A server variant's process, killed on drop.
struct Server {
    child: Child,
    port: u16,
    pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts this binary as `--serve VARIANT APP` on core 0, reads its port and waits (10 s at
    /// most) until it accepts connections.
    fn start(variant: &str, app: &str) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(exe)
            .args(["--serve", variant, app])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server under taskset: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let pid = child.id();
        let mut server = Server {
            child,
            port: 0,
            pid,
        };
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        server.port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("unexpected server output '{line}'"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            if Instant::now() > deadline {
                return Err("server did not accept connections".into());
            }
            std::thread::yield_now();
        }
        Ok(server)
    }
}

/// CPU time the process has used so far, in seconds: every thread's (user + system), every
/// thread's in user mode, and its Spyglass threads' (named `spyglass-…`, such as the collector;
/// user + system), from `/proc/PID/stat` and `/proc/PID/task/*/stat`, the Spyglass threads' from
/// `/proc/PID/task/*/sched` where the kernel has it.
fn cpu_secs(pid: u32, ticks_per_sec: f64) -> Result<[f64; 3], String> {
    let (_, user, sys) = stat_secs(&format!("/proc/{pid}/stat"), ticks_per_sec)?;
    let mut spyglass = 0.0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| format!("cannot list the server's threads: {e}"))?;
    for t in tasks.flatten() {
        // A thread that ended between the listing and the read has nothing left to count.
        if let Ok((name, u, s)) = stat_secs(&format!("{}/stat", t.path().display()), ticks_per_sec)
        {
            if name.starts_with("spyglass-") {
                // `stat` counts in clock ticks (10 ms): over a round the collector runs a few of
                // them, so its precise runtime is read where the kernel shows it.
                spyglass += sched_secs(&format!("{}/sched", t.path().display())).unwrap_or(u + s);
            }
        }
    }
    Ok([user + sys, user, spyglass])
}

/// A thread's time on a CPU in seconds, to the microsecond, from a `/proc` `sched` file
/// (`se.sum_exec_runtime`, in milliseconds); `None` where the kernel does not provide it.
fn sched_secs(path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_sum_exec_runtime(&text)
}

/// `se.sum_exec_runtime` of a `sched` file's text, in seconds.
fn parse_sum_exec_runtime(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("se.sum_exec_runtime"))
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|ms| ms / 1000.0)
}

/// The command name and CPU times (user, system; seconds) of a `/proc` `stat` file.
fn stat_secs(path: &str, ticks_per_sec: f64) -> Result<(String, f64, f64), String> {
    let stat = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the server's CPU time: {e}"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let (head, rest) = stat.rsplit_once(')').unwrap_or(("", ""));
    let name = head.split_once('(').map_or("", |x| x.1).to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => Ok((name, u / ticks_per_sec, s / ticks_per_sec)),
        _ => Err(format!("unexpected /proc stat line: {stat}")),
    }
}

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 if that fails).
fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One wrk run of `secs` seconds on core 1: requests/s, p99 (ms), total requests.
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
    parse_wrk(&text)
}

/// wrk's `--latency` report: requests/s, p99 (ms), total requests; an error if it saw non-2xx
/// answers or socket errors.
fn parse_wrk(text: &str) -> Result<(f64, f64, f64), String> {
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
        .find_map(|l| l.trim().split_once(" requests in ").map(|x| x.0.trim()))
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

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 1s test @ http://127.0.0.1:40000/users/42
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  200.00us   3.00ms   90.00%
    Req/Sec    39.00k     1.00k   41.00k    70.00%
  Latency Distribution
     50%  790.00us
     75%  850.00us
     90%    1.00ms
     99%    1.23ms
  39000 requests in 1.00s, 5.00MB read
Requests/sec:  38990.12
Transfer/sec:      5.00MB
";

    #[test]
    fn parses_a_wrk_report() {
        let (rps, p99, total) = parse_wrk(REPORT).unwrap();
        assert_eq!(rps, 38990.12);
        assert!((p99 - 1.23).abs() < 1e-9);
        assert_eq!(total, 39000.0);
    }

    #[test]
    fn rejects_a_report_with_errors() {
        let text = REPORT.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 5\nRequests/sec",
        );
        assert!(parse_wrk(&text).unwrap_err().contains("wrk saw errors"));
    }

    #[test]
    fn latency_units() {
        assert_eq!(parse_latency("500.00us"), Some(0.5));
        assert_eq!(parse_latency("2.00s"), Some(2000.0));
        assert_eq!(parse_latency("1.5ms"), Some(1.5));
        assert_eq!(parse_latency("7"), None);
    }

    #[test]
    fn arguments() {
        let h = Harness {
            variants: &[("bare", "bare"), ("x", "X")],
            hidden: &["y"],
            default_secs: 8,
            warmup_secs: 2,
            vs_bare_header: "vs bare",
            vs_bare: |t, _, _| format!("{t}"),
        };
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let plan = |rounds, secs, app, chosen| Plan {
            rounds,
            secs,
            app,
            chosen,
        };
        assert_eq!(
            h.parse_args(&args("")).unwrap(),
            plan(1, 8, "plain", vec!["bare", "x"])
        );
        assert_eq!(
            h.parse_args(&args("--bench --rounds 3 --secs 1 --app shop x y"))
                .unwrap(),
            plan(3, 1, "shop", vec!["x", "y"])
        );
        assert!(h.parse_args(&args("--rounds 0")).is_err());
        assert!(h
            .parse_args(&args("--app other"))
            .unwrap_err()
            .contains("plain, shop"));
        assert!(h
            .parse_args(&args("z"))
            .unwrap_err()
            .contains("variants: bare, x"));
    }

    #[test]
    fn reads_a_threads_runtime() {
        let text = "spyglass-collec (4989, #threads: 3)\n\
                    -------------------------------------------------------------------\n\
                    se.exec_start                                :      48122774.032602\n\
                    se.sum_exec_runtime                          :          1563.423000\n";
        assert_eq!(parse_sum_exec_runtime(text), Some(1.563423));
        assert_eq!(parse_sum_exec_runtime("se.vruntime : 1.0\n"), None);
    }

    #[test]
    fn median_interval_ranks() {
        let ranks = |n: usize| {
            let xs: Vec<f64> = (1..=n).rev().map(|i| i as f64).collect();
            median_interval(xs)
        };
        // n = 15: P(B ≤ 3) = 576 / 32768 = 1.8 %, P(B ≤ 4) = 5.9 %: the 4th and 12th values.
        assert_eq!(ranks(15), Some((4.0, 12.0)));
        // n = 21: P(B ≤ 5) = 1.3 %, P(B ≤ 6) = 3.9 %: the 6th and 16th.
        assert_eq!(ranks(21), Some((6.0, 16.0)));
        // n = 6: P(B ≤ 0) = 1.6 %, so the whole range; n = 5: 3.1 %, no interval.
        assert_eq!(ranks(6), Some((1.0, 6.0)));
        assert_eq!(ranks(5), None);
        assert_eq!(ranks(1), None);
    }

    #[test]
    fn median_takes_the_upper_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}

//! Helpers shared by the exporters' behaviour tests: external tools, a tiny HTTP server and client
//! over loopback, bounded waits.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The path of an external tool: `$var` (set by `scripts/setup.d/40-prometheus.sh`), else `name`
/// on `PATH`. `None` (the test is skipped, saying so) when missing outside CI; a panic under
/// `CI=true`, where a missing dependency is a failure.
pub fn tool(var: &str, name: &str) -> Option<PathBuf> {
    let from_var = std::env::var_os(var).map(PathBuf::from);
    let found = from_var.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
    });
    match found {
        Some(p) if p.is_file() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{name} not found (set {var} or install the Debian package `prometheus`; \
             scripts/setup.d/40-prometheus.sh does both)"
        ),
        _ => {
            eprintln!(
                "SKIPPED: {name} not found (set {var} or run scripts/test-all.sh, which installs it)"
            );
            None
        }
    }
}

/// `promtool check metrics` (the binary at `promtool`) on the exposition `text`: it must pass and
/// report nothing; the panic message carries `text`.
pub fn assert_promtool_accepts(promtool: &std::path::Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "promtool check metrics:\n{report}\n{text}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool check metrics reported:\n{report}"
    );
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub fn wait_until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::yield_now();
    }
}

/// Serves `GET /metrics` with `render()` on 127.0.0.1 (a background thread, for the life of the
/// test process); returns the port.
pub fn serve_metrics(render: Arc<dyn Fn() -> String + Send + Sync>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let render = render.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = if path == "/metrics" {
                    (
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        render(),
                    )
                } else {
                    ("404 Not Found", "text/plain", "not found\n".to_string())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// `GET http://127.0.0.1:{port}{path}` → (status, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    Ok((status, body.to_string()))
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Prometheus server on 127.0.0.1 with a temporary config and data dir, scraping `targets`
/// every second and loading `rule_files`. Ready when this returns.
pub struct PrometheusServer {
    pub port: u16,
    _child: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    pub fn start(
        bin: &std::path::Path,
        metrics_path: &str,
        targets: &[u16],
        rule_files: &[PathBuf],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("'{}'", p.display()))
            .collect();
        let cfg = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [{}]\n\
             scrape_configs:\n  - job_name: spyglass\n    metrics_path: {metrics_path}\n    static_configs:\n      - targets: [{}]\n",
            rules.join(", "),
            targets.join(", ")
        );
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let server = PrometheusServer {
            port,
            _child: KillOnDrop(child),
            _dir: dir,
        };
        wait_until(60, "Prometheus to be ready", || {
            matches!(http_get(port, "/-/ready"), Ok((200, _))).then_some(())
        });
        server
    }

    /// `GET /api/v1/query?query=…` → the parsed JSON response.
    pub fn query(&self, promql: &str) -> serde_json::Value {
        let (status, body) = http_get(
            self.port,
            &format!("/api/v1/query?query={}", urlencode(promql)),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query {promql}: HTTP {status}, not JSON ({e}): {body}"));
        v
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

/// `deploy/` at the workspace root.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
}

/// Replaces Grafana's variables with values Prometheus accepts.
pub fn substitute_grafana_vars(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
        .replace("$job", ".*")
        .replace("$route", ".*")
}

/// Every PromQL expression of the Grafana dashboard (panel targets and the selectors inside
/// `label_values(…)` of the template variables), Grafana variables substituted.
pub fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(deploy_dir().join("grafana-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is valid JSON");
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k == "expr" {
                        out.push(substitute_grafana_vars(
                            v.as_str().expect("expr is a string"),
                        ));
                    } else {
                        walk(v, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash["panels"], &mut out);
    for var in dash["templating"]["list"].as_array().unwrap() {
        if let Some(def) = var["definition"].as_str() {
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map(|(sel, _)| sel.trim().to_string())
                .unwrap_or_else(|| panic!("unexpected variable query {def}"));
            out.push(substitute_grafana_vars(&inner));
        }
    }
    out
}

/// The metric names and label names a PromQL expression refers to.
pub fn promql_names(expr: &str) -> (Vec<String>, Vec<String>) {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
    ];
    let b: Vec<char> = expr.chars().collect();
    let (mut metrics, mut labels) = (Vec::new(), Vec::new());
    let mut i = 0;
    let mut in_braces = false;
    let mut label_list = false; // inside by (...) / without (...)
    let mut last_word = String::new();
    while i < b.len() {
        let c = b[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '[' {
            while i < b.len() && b[i] != ']' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                i += 1;
            }
            let w: String = b[start..i].iter().collect();
            let mut j = i;
            while j < b.len() && b[j] == ' ' {
                j += 1;
            }
            let next = b.get(j).copied();
            let rest: String = b[j..].iter().collect();
            let aggregation_with_clause = rest.starts_with("by ")
                || rest.starts_with("by(")
                || rest.starts_with("without ")
                || rest.starts_with("without(");
            if in_braces || label_list {
                labels.push(w.clone());
            } else if KEYWORDS.contains(&w.as_str()) {
            } else if next == Some('(') || aggregation_with_clause {
                // a function or aggregation
            } else {
                metrics.push(w.clone());
            }
            last_word = w;
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
            continue;
        }
        match c {
            '{' => in_braces = true,
            '}' => in_braces = false,
            '(' if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&last_word.as_str()) =>
            {
                label_list = true
            }
            ')' => label_list = false,
            ' ' | '\n' | '\t' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        last_word.clear();
        i += 1;
    }
    (metrics, labels)
}

/// Metric names (with the `_bucket`, `_sum`, `_count` series of histograms) and label names in a
/// text exposition.
pub fn exposed_names(exposition: &str) -> (HashSet<String>, HashSet<String>) {
    let mut metrics = HashSet::new();
    let mut labels: HashSet<String> = ["job", "instance", "le"].map(String::from).into();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            metrics.insert(name.to_string());
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    metrics.insert(format!("{name}{s}"));
                }
            }
        } else if !line.starts_with('#') {
            if let Some((_, rest)) = line.split_once('{') {
                let body = rest.rsplit_once('}').unwrap().0;
                for pair in body.split("\",") {
                    if let Some((k, _)) = pair.split_once('=') {
                        labels.insert(k.trim().to_string());
                    }
                }
            }
        }
    }
    (metrics, labels)
}

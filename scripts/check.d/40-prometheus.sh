#!/usr/bin/env bash
# End-to-end check of the Prometheus exporter with the real tools, on the example app:
#   1. spyglass-example-axum runs with SPYGLASS_PROMETHEUS=1 and --demo-traffic on 127.0.0.1;
#   2. its /_spyglass/metrics exposition passes `promtool check metrics` (Debian's promtool);
#   3. deploy/prometheus-alerts.yml passes `promtool check rules` and its unit tests;
#   4. a real Prometheus server (temporary config and data dir, loopback) scrapes the app with the
#      alerting rules loaded, and its HTTP query API returns
#      http_server_request_duration_seconds_count for the app's route templates (never raw paths);
#   5. every expression of deploy/grafana-dashboard.json runs on that server.
# Run by scripts/test-all.sh after scripts/setup.d/40-prometheus.sh; runnable alone too.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
# shellcheck source=../lib.sh
source "$ROOT/scripts/lib.sh"

PROMTOOL=${SPYGLASS_TEST_PROMTOOL:-$(command -v promtool || true)}
PROMETHEUS=${SPYGLASS_TEST_PROMETHEUS:-$(command -v prometheus || true)}
[ -n "$PROMTOOL" ] && [ -x "$PROMTOOL" ] || ci_fail "promtool not found: apt-get install prometheus (scripts/setup.d/40-prometheus.sh)"
[ -n "$PROMETHEUS" ] && [ -x "$PROMETHEUS" ] || ci_fail "prometheus not found: apt-get install prometheus (scripts/setup.d/40-prometheus.sh)"
need_cmd python3 "python3 (used to read the query API's JSON)"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${SPYGLASS_TEST_TMP:-/tmp}/prometheus-check.XXXXXX")
on_exit "rm -rf '$WORK'"

fetch() { # fetch URL: prints the body, fails on a non-2xx status
  python3 - "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    sys.stdout.write(r.read().decode())
EOF
}

step "alerting rules: promtool check rules + unit tests"
"$PROMTOOL" check rules deploy/prometheus-alerts.yml
(cd deploy && "$PROMTOOL" test rules prometheus-alerts.test.yml)

step "example app with SPYGLASS_PROMETHEUS=1"
cargo build --release -q -p spyglass-example-axum
APP_PORT=$(free_port)
SPYGLASS_PROMETHEUS=1 OTEL_SERVICE_NAME=spyglass-example \
  "$TARGET_DIR/release/spyglass-example-axum" --port "$APP_PORT" --demo-traffic >"$WORK/app.log" 2>&1 &
APP_PID=$!
on_exit "kill $APP_PID 2>/dev/null || true; wait $APP_PID 2>/dev/null || true"
METRICS_URL="http://127.0.0.1:$APP_PORT/_spyglass/metrics"
app_serves_metrics() { # polls for up to 60 s; fails early if the app exits
  local i
  for ((i = 0; i < 600; i++)); do
    if fetch "$METRICS_URL" >"$WORK/poll.txt" 2>/dev/null \
      && grep -q '^http_server_request_duration_seconds_count{' "$WORK/poll.txt"; then return 0; fi
    kill -0 "$APP_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
if ! app_serves_metrics; then
  cat "$WORK/app.log" >&2
  ci_fail "the example app did not serve request metrics at $METRICS_URL within 60 s"
fi

step "promtool check metrics on $METRICS_URL"
fetch "$METRICS_URL" >"$WORK/metrics.txt"
if ! report=$("$PROMTOOL" check metrics <"$WORK/metrics.txt" 2>&1) || [ -n "$report" ]; then
  echo "$report" >&2
  ci_fail "promtool check metrics rejected the exposition"
fi
grep -q '^spyglass_build_info{service_name="spyglass-example"' "$WORK/metrics.txt" \
  || ci_fail "spyglass_build_info missing from the exposition"
grep -q '^spyglass_events_emitted_total ' "$WORK/metrics.txt" \
  || ci_fail "spyglass health metrics missing from the exposition"
echo "exposition OK ($(grep -c '^[a-z]' "$WORK/metrics.txt") samples)"

step "Prometheus server scraping the example"
PROM_PORT=$(free_port)
mkdir -p "$WORK/prometheus"
cp deploy/prometheus-alerts.yml "$WORK/prometheus/"
cat >"$WORK/prometheus/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [prometheus-alerts.yml]
scrape_configs:
  - job_name: spyglass-example
    metrics_path: /_spyglass/metrics
    static_configs:
      - targets: ['127.0.0.1:$APP_PORT']
EOF
"$PROMETHEUS" --config.file="$WORK/prometheus/prometheus.yml" --storage.tsdb.path="$WORK/prometheus/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
on_exit "kill $PROM_PID 2>/dev/null || true; wait $PROM_PID 2>/dev/null || true"
wait_for "fetch http://127.0.0.1:$PROM_PORT/-/ready" 60 "Prometheus to be ready"

PROM="http://127.0.0.1:$PROM_PORT" python3 - "$WORK" <<'EOF'
import json, os, sys, time, urllib.parse, urllib.request

prom = os.environ["PROM"]
root = os.getcwd()

def get(path):
    with urllib.request.urlopen(prom + path, timeout=10) as r:
        return json.load(r)

def query(expr):
    return get("/api/v1/query?query=" + urllib.parse.quote(expr))

# The route templates of the example app that --demo-traffic hits.
expected = {"/users/{id}", "/users/{id}/orders", "/search", "/orders", "/health", "/reports/slow", "/error", "/panic"}
deadline = time.time() + 90
routes = set()
while time.time() < deadline:
    res = query("sum by (http_route) (http_server_request_duration_seconds_count)")
    routes = {r["metric"].get("http_route", "") for r in res["data"]["result"]}
    if expected <= routes:
        break
    time.sleep(0.5)
missing = expected - routes
if missing:
    sys.exit(f"error: Prometheus has no http_server_request_duration_seconds_count for {sorted(missing)} (has {sorted(routes)})")
raw = [r for r in routes if any(seg.isdigit() for seg in r.split("/"))]
if raw:
    sys.exit(f"error: raw paths used as http_route labels: {raw}")
print(f"Prometheus sees http_server_request_duration_seconds_count for {len(routes)} routes: {sorted(routes)}")

# Targets healthy, alerting rules loaded and evaluating.
targets = get("/api/v1/targets")["data"]["activeTargets"]
if not targets or any(t["health"] != "up" for t in targets):
    sys.exit(f"error: scrape target not healthy: {targets}")
rules = [r for g in get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
if len(rules) != 5 or any(r["health"] != "ok" for r in rules):
    sys.exit(f"error: alerting rules not all loaded and healthy: {rules}")
print(f"{len(rules)} alerting rules loaded: {sorted(r['name'] for r in rules)}")

# Every expression of the Grafana dashboard runs on the real server, and the main panels have data.
dash = json.load(open(os.path.join(root, "deploy", "grafana-dashboard.json")))
def exprs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr":
                yield v
            else:
                yield from exprs(v)
    elif isinstance(node, list):
        for v in node:
            yield from exprs(v)
subst = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$job": ".*", "$route": ".*"}
n = 0
for e in exprs(dash["panels"]):
    for k, v in subst.items():
        e = e.replace(k, v)
    r = query(e)
    if r["status"] != "success":
        sys.exit(f"error: dashboard expression failed: {e}: {r}")
    n += 1
print(f"{n} dashboard expressions evaluated")
EOF
echo "prometheus check passed"

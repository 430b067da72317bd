#!/usr/bin/env bash
# Browser check of the dashboard: starts the example app (README's first command, on a free port, with
# demo traffic), opens /_spyglass in headless Chromium (playwright-core driving Debian's chromium),
# waits for live data over the stream, checks that the charts hold data points, that the routes table
# lists the example's routes, that the queries table lists its SQLite statements and the N+1 panel its
# GET /orders loop, that the request waterfall opens, and that no console error occurred;
# saves a screenshot. Run by scripts/test-all.sh after scripts/setup.d/30-chromium.sh.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$ROOT/scripts/lib.sh"
TMP=${SPYGLASS_TEST_TMP:-$(mktemp -d /tmp/spyglass-browser.XXXXXX)}
export SPYGLASS_TEST_TMP=$TMP
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spyglass/target}"

need_cmd chromium "Debian package chromium (scripts/setup.d/30-chromium.sh installs it)"
need_cmd node "Debian package nodejs"
[ -d "$ROOT/tests/browser/node_modules/playwright-core" ] \
  || (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent) \
  || ci_fail "playwright-core missing: run npm ci in tests/browser"

cargo build -q -p spyglass-example-axum
BIN="$CARGO_TARGET_DIR/debug/spyglass-example-axum"
OUT="$TMP/example-axum.out"
"$BIN" --port 0 --demo-traffic >"$OUT" 2>"$TMP/example-axum.err" &
PID=$!
on_exit "kill $PID 2>/dev/null"
wait_for "grep -q '^Spyglass dashboard: http://' '$OUT'" 60 "the example to print its dashboard URL"
URL=$(sed -n 's/^Spyglass dashboard: \(http[^ ]*\)$/\1/p' "$OUT" | head -1)
echo "example running at $URL"

SHOT_DIR=${SPYGLASS_SCREENSHOT_DIR:-$CARGO_TARGET_DIR/spyglass-screenshots}
mkdir -p "$SHOT_DIR"
SHOT="$SHOT_DIR/dashboard.png"
node "$ROOT/tests/browser/dashboard.mjs" "$URL" "$SHOT" --n-plus-one "/orders" \
  "/users/{id}" "/users/{id}/orders" "/orders" "/search" "/reports/slow" "/error" "/panic" "<unmatched>"
kill -0 "$PID" 2>/dev/null || ci_fail "the example app died during the browser check"
echo "browser check passed; screenshot at $SHOT"

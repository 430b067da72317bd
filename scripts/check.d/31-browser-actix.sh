#!/usr/bin/env bash
# Browser check of the dashboard served by the actix-web middleware: starts the actix example (same
# routes as the axum one, on a free port, with demo traffic) and runs the same headless-Chromium
# check as 30-browser.sh (tests/browser/dashboard.mjs: live stream updates, charts with data points,
# the routes table listing the example's routes, the request waterfall, no console error), saving its
# own screenshot. Run by scripts/test-all.sh after scripts/setup.d/30-chromium.sh.
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

cargo build -q -p spyglass-example-actix
BIN="$CARGO_TARGET_DIR/debug/spyglass-example-actix"
OUT="$TMP/example-actix.out"
"$BIN" --port 0 --demo-traffic >"$OUT" 2>"$TMP/example-actix.err" &
PID=$!
on_exit "kill $PID 2>/dev/null"
wait_for "grep -q '^Spyglass dashboard: http://' '$OUT'" 60 "the actix example to print its dashboard URL"
URL=$(sed -n 's/^Spyglass dashboard: \(http[^ ]*\)$/\1/p' "$OUT" | head -1)
echo "actix example running at $URL"

SHOT_DIR=${SPYGLASS_SCREENSHOT_DIR:-$CARGO_TARGET_DIR/spyglass-screenshots}
mkdir -p "$SHOT_DIR"
SHOT="$SHOT_DIR/dashboard-actix.png"
node "$ROOT/tests/browser/dashboard.mjs" "$URL" "$SHOT" \
  "/users/{id}" "/users/{id}/orders" "/orders" "/search" "/reports/slow" "/error" "/panic" "<unmatched>"
kill -0 "$PID" 2>/dev/null || ci_fail "the actix example died during the browser check"
echo "browser check (actix) passed; screenshot at $SHOT"

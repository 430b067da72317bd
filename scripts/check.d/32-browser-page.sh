#!/usr/bin/env bash
# Browser check of the dashboard page's own behaviour (tests/browser/page.mjs says what it checks):
# serves the dashboard behind SpyglassLayer on a router of no routes (spyglass-axum/examples/
# check_server.rs, with synthetic traffic), for an instance that
# keeps 5 minutes of stats (shorter than the page's 15-minute default) and opens it in headless
# Chromium (playwright-core driving Debian's chromium, as 30-browser.sh). Run by
# scripts/test-all.sh after scripts/setup.d/30-chromium.sh.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
export ROOT
# shellcheck source=../lib.sh
source "$ROOT/scripts/lib.sh"
tmp=${SPYGLASS_TEST_TMP:-$(mktemp -d /tmp/spyglass-browser.XXXXXX)}
export SPYGLASS_TEST_TMP=$tmp
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spyglass/target}"
window=300

need_cmd chromium "Debian package chromium (scripts/setup.d/30-chromium.sh installs it)"
need_cmd node "Debian package nodejs"
[ -d "$ROOT/tests/browser/node_modules/playwright-core" ] \
  || (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent) \
  || ci_fail "playwright-core missing: run npm ci in tests/browser"

cargo build -q -p spyglass-axum --example check_server
out="$tmp/check_server.out"
"$CARGO_TARGET_DIR/debug/examples/check_server" --port 0 --window "$window" >"$out" 2>"$tmp/check_server.err" &
pid=$!
on_exit "kill $pid 2>/dev/null"
wait_for "grep -q '^Spyglass dashboard: http://' '$out'" 60 "the check server to print its dashboard URL"
url=$(sed -n 's/^Spyglass dashboard: \(http[^ ]*\)$/\1/p' "$out" | head -1)
echo "dashboard-only check server (stats window ${window} s) at $url"
node "$ROOT/tests/browser/page.mjs" "$url" "$window"
kill -0 "$pid" 2>/dev/null || ci_fail "the check server died during the browser check"
echo "browser check of the page passed"

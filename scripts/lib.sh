# Helpers shared by scripts/test-all.sh and its setup.d / check.d pieces. Sourced, not run.

_spyglass_exit_cmds=()
# on_exit CMD: run CMD (in reverse order of registration) when the test run ends, however it ends.
on_exit() {
  _spyglass_exit_cmds=("$1" "${_spyglass_exit_cmds[@]}")
  trap '_spyglass_run_exit' EXIT
}
_spyglass_run_exit() {
  local c
  for c in "${_spyglass_exit_cmds[@]}"; do eval "$c" || true; done
}

step() { printf '\n==> %s\n' "$*"; }

# ci_fail MSG: a missing dependency. Fatal everywhere (the suite cannot pass without it).
ci_fail() {
  echo "error: $*" >&2
  exit 1
}

need_cmd() { # need_cmd CMD "what to install"
  command -v "$1" >/dev/null 2>&1 || ci_fail "$1 not found: $2"
}

_spyglass_apt_updated=0
# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || ci_fail "missing packages ${missing[*]} and no apt-get to install them"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ "$_spyglass_apt_updated" -eq 0 ]; then
    $sudo apt-get update -qq || ci_fail "apt-get update failed"
    _spyglass_apt_updated=1
  fi
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || ci_fail "apt-get install ${missing[*]} failed"
}

# free_port: prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for CMD TIMEOUT_SECS WHAT: polls CMD until it succeeds.
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if eval "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  ci_fail "timed out after $2 s waiting for $3"
}

# browser_check PACKAGE LABEL SCREENSHOT: starts the example PACKAGE (on a free port, with demo
# traffic), opens its /_spyglass in headless Chromium through tests/browser/dashboard.mjs (live
# stream updates, charts with data points, the routes table listing the examples' routes, the
# queries and the N+1 panel on GET /orders, the request waterfall, the tenant label the examples'
# hook sets in the errors table, no console error) and saves
# SCREENSHOT (a file name) under $SPYGLASS_SCREENSHOT_DIR. The examples of both frameworks serve
# the same routes, so one route list serves both.
browser_check() {
  local package=$1 label=$2 shot_name=$3
  local tmp=${SPYGLASS_TEST_TMP:-$(mktemp -d /tmp/spyglass-browser.XXXXXX)}
  export SPYGLASS_TEST_TMP=$tmp
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spyglass/target}"

  need_cmd chromium "Debian package chromium (scripts/setup.d/30-chromium.sh installs it)"
  need_cmd node "Debian package nodejs"
  [ -d "$ROOT/tests/browser/node_modules/playwright-core" ] \
    || (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent) \
    || ci_fail "playwright-core missing: run npm ci in tests/browser"

  cargo build -q -p "$package"
  local bin="$CARGO_TARGET_DIR/debug/$package" out="$tmp/$package.out"
  "$bin" --port 0 --demo-traffic >"$out" 2>"$tmp/$package.err" &
  local pid=$!
  on_exit "kill $pid 2>/dev/null"
  wait_for "grep -q '^Spyglass dashboard: http://' '$out'" 60 "the $label to print its dashboard URL"
  local url
  url=$(sed -n 's/^Spyglass dashboard: \(http[^ ]*\)$/\1/p' "$out" | head -1)
  echo "$label running at $url"

  local shot_dir=${SPYGLASS_SCREENSHOT_DIR:-$CARGO_TARGET_DIR/spyglass-screenshots}
  mkdir -p "$shot_dir"
  local shot="$shot_dir/$shot_name"
  node "$ROOT/tests/browser/dashboard.mjs" "$url" "$shot" --n-plus-one "/orders" \
    "/users/{id}" "/users/{id}/orders" "/orders" "/search" "/reports/slow" "/error" "/panic" "<unmatched>"
  kill -0 "$pid" 2>/dev/null || ci_fail "the $label died during the browser check"
  echo "browser check of the $label passed; screenshot at $shot"
}

# free_gib DIR: whole GiB free on the filesystem holding DIR (or its nearest existing parent).
free_gib() {
  local d="$1"
  while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  df -Pk "$d" | awk 'NR == 2 { print int($4 / 1048576) }'
}

# ensure_build_space TARGET_DIR: empties TARGET_DIR when it holds more than SPYGLASS_TARGET_BUDGET_GIB
# (default 25) or fewer than SPYGLASS_MIN_FREE_GIB (default 10) are free; fails when even an empty
# cache leaves less than that free.
ensure_build_space() {
  local target="$1" budget="${SPYGLASS_TARGET_BUDGET_GIB:-25}" min_free="${SPYGLASS_MIN_FREE_GIB:-10}" used=0
  if [ -d "$target" ]; then used=$(du -sk "$target" 2>/dev/null | awk '{ print int($1 / 1048576) }'); fi
  local free
  free=$(free_gib "$target")
  echo "target cache $target: ${used} GiB used, ${free} GiB free on its disk"
  if [ -d "$target" ] && { [ "$used" -gt "$budget" ] || [ "$free" -lt "$min_free" ]; }; then
    echo "emptying the target cache (budget ${budget} GiB, at least ${min_free} GiB free wanted)"
    rm -rf "${target:?}/debug" "${target:?}/tests" "${target:?}/release"
    free=$(free_gib "$target")
  fi
  [ "$free" -ge "$min_free" ] || ci_fail "only ${free} GiB free for $target; the build needs about ${min_free} GiB"
}

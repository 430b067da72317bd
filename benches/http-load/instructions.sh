#!/usr/bin/env bash
# User-space instructions per request of a load-harness server variant, counted by callgrind over
# the whole server process (request and collector threads) and differenced between a 4 s and a 14 s
# wrk run so start-up cancels. Deterministic enough to compare variants on a noisy machine; kernel
# time (the TCP stack) is not counted.
#
#   benches/http-load/instructions.sh target/release/http-load bare spyglass prometheus trace
#   benches/http-load/instructions.sh target/release/http-load --app shop bare spyglass prometheus
#   benches/http-load/instructions.sh target/release/deps/load-<hash> bare noop spyglass prometheus
#
# `--app NAME` picks the harness's app (default: its first, `plain`). `--cache` adds callgrind's
# cache simulation, sized like one core of the project's machine (48 KiB L1d; the 1 MiB L2 as the
# last level, since the L3 is shared), and prints L1d and L2 misses per request besides.
# Needs valgrind and wrk (Debian packages `valgrind`, `wrk`).
set -euo pipefail
bin=$1
shift
app=plain
cache=()
while [ $# -gt 0 ]; do
  case $1 in
    --app) app=$2; shift 2 ;;
    --cache) cache=(--cache-sim=yes --D1=49152,12,64 --LL=1048576,8,64); shift ;;
    *) break ;;
  esac
done
work=$(mktemp -d)
trap 'pkill -f "callgrind.*$bin --serve" 2>/dev/null || true; rm -rf "$work"' EXIT
for v in "$@"; do
  declare -A reqs=() counts=()
  for secs in 4 14; do
    out="$work/$v.$secs.out"
    valgrind --tool=callgrind "${cache[@]}" --callgrind-out-file="$work/$v.$secs.cg" "$bin" --serve "$v" "$app" >"$out" 2>"$work/$v.err" &
    vpid=$!
    for _ in $(seq 1 240); do grep -q listening "$out" 2>/dev/null && break; sleep 0.5; done
    port=$(grep -o '[0-9]*' "$out" | head -1)
    reqs[$secs]=$(taskset -c 1 wrk -t1 -c4 -d"${secs}s" "http://127.0.0.1:$port/users/7" | awk '/requests in/ {print $1}')
    kill -TERM "$vpid"
    wait "$vpid" 2>/dev/null || true
    # The summary line: Ir, then with --cache Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
    counts[$secs]=$(awk '/^summary:/ {$1 = ""; print; exit}' "$work/$v.$secs.cg")
  done
  read -r -a a <<<"${counts[4]}"
  read -r -a b <<<"${counts[14]}"
  n=$((reqs[14] - reqs[4]))
  line="$v: $(((b[0] - a[0]) / n)) instructions/request"
  if [ ${#cache[@]} -gt 0 ]; then
    line+=$(awk -v n="$n" -v a="${counts[4]}" -v b="${counts[14]}" 'BEGIN {
      split(a, x); split(b, y)
      printf ", L1d misses %.1f, L2 misses %.2f per request", (y[5] + y[6] - x[5] - x[6]) / n, (y[8] + y[9] - x[8] - x[9]) / n
    }')
  fi
  echo "$line"
done

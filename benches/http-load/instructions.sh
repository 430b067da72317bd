#!/usr/bin/env bash
# User-space instructions per request of a load-harness server variant, counted by callgrind over
# the whole server process (request and collector threads) and differenced between a 4 s and a 14 s
# wrk run so start-up cancels. Deterministic enough to compare variants on a noisy machine; kernel
# time (the TCP stack) is not counted.
#
#   benches/http-load/instructions.sh target/release/http-load bare spyglass prometheus trace
#   benches/http-load/instructions.sh target/release/deps/load-<hash> bare noop spyglass prometheus
#
# Needs valgrind and wrk (Debian packages `valgrind`, `wrk`).
set -euo pipefail
bin=$1
shift
work=$(mktemp -d)
trap 'pkill -f "callgrind.*$bin --serve" 2>/dev/null || true; rm -rf "$work"' EXIT
for v in "$@"; do
  declare -A reqs=() instr=()
  for secs in 4 14; do
    out="$work/$v.$secs.out"
    valgrind --tool=callgrind --callgrind-out-file="$work/$v.$secs.cg" "$bin" --serve "$v" >"$out" 2>"$work/$v.err" &
    vpid=$!
    for _ in $(seq 1 240); do grep -q listening "$out" 2>/dev/null && break; sleep 0.5; done
    port=$(grep -o '[0-9]*' "$out" | head -1)
    reqs[$secs]=$(taskset -c 1 wrk -t1 -c4 -d"${secs}s" "http://127.0.0.1:$port/users/7" | awk '/requests in/ {print $1}')
    kill -TERM "$vpid"
    wait "$vpid" 2>/dev/null || true
    instr[$secs]=$(awk '/^summary:/ {print $2; exit}' "$work/$v.$secs.cg")
  done
  echo "$v: $(( (instr[14] - instr[4]) / (reqs[14] - reqs[4]) )) instructions/request"
done

#!/usr/bin/env bash
# Where a load-harness server variant spends its instructions, per thread: callgrind with one
# profile per thread, counting only a measured wrk run after a warm-up (`callgrind_control -z`),
# then divided by the requests served. With `--cache` the L1i/L1d/L2 simulation of instructions.sh
# is on as well. The profiles stay in DIR for `callgrind-report.py`.
#
#   benches/http-load/profile.sh DIR BIN VARIANT [--app NAME] [--cache] [--secs N] [--flush-ms N]
#   benches/http-load/callgrind-report.py threads DIR/spyglass
#   benches/http-load/callgrind-report.py diff DIR/bare DIR/spyglass --thread 2 [--event I1mr]
#
# A binary built with line tables names inlined code by file:
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p spyglass-benches-http-load
# `--flush-ms 20000` (axum harness, `shop` app) sets the collector's flush interval long, so that it
# drains at a quarter of its queue as under real load; at valgrind's few thousand requests a second
# it otherwise drains on its 100 ms timer, in smaller batches.
# Needs valgrind and wrk (Debian packages `valgrind`, `wrk`).
set -euo pipefail
dir=$1
bin=$2
variant=$3
shift 3
app=plain
secs=10
cache=()
while [ $# -gt 0 ]; do
  case $1 in
    --app) app=$2; shift 2 ;;
    --cache) cache=(--cache-sim=yes --D1=49152,12,64 --LL=1048576,8,64); shift ;;
    --secs) secs=$2; shift 2 ;;
    --flush-ms) export HTTP_LOAD_FLUSH_MS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
out="$dir/$variant"
valgrind --tool=callgrind --separate-threads=yes --dump-instr=yes "${cache[@]}" \
  --callgrind-out-file="$out.cg" "$bin" --serve "$variant" "$app" >"$out.stdout" 2>"$out.stderr" &
vpid=$!
trap 'kill -TERM "$vpid" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do grep -q listening "$out.stdout" 2>/dev/null && break; sleep 0.5; done
port=$(grep -o '[0-9]*' "$out.stdout" | head -1)
taskset -c 1 wrk -t1 -c4 -d3s "http://127.0.0.1:$port/users/7" >/dev/null
callgrind_control -z "$vpid" >/dev/null 2>&1
taskset -c 1 wrk -t1 -c4 -d"${secs}s" "http://127.0.0.1:$port/users/7" |
  awk '/requests in/ {print $1}' >"$out.requests"
kill -TERM "$vpid"
wait "$vpid" 2>/dev/null || true
trap - EXIT
echo "$variant: $(cat "$out.requests") requests measured; profiles $out.cg-NN"

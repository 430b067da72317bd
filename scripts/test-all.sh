#!/usr/bin/env bash
# Runs every test of the workspace: installs what is missing (with apt-get / cargo install), starts
# the servers the tests need on loopback in temporary directories, runs the suites, and cleans up.
#
# Pieces:
#   scripts/lib.sh        helpers (need_cmd, apt_install, ci_fail)
#   scripts/setup.d/*.sh  sourced in order before the tests: install a dependency, start a server,
#                         export what the tests read (e.g. SPYGLASS_TEST_PG_URL); each may register a
#                         cleanup with `on_exit "command"`
#   scripts/check.d/*.sh  run in order after the cargo suites: end-to-end checks with external tools
#                         (headless Chromium, promtool, a Prometheus server)
# Under CI=true a missing dependency is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export ROOT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spyglass/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
SPYGLASS_TEST_TMP=$(mktemp -d /tmp/spyglass-test.XXXXXX)
export SPYGLASS_TEST_TMP
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
on_exit "rm -rf '$SPYGLASS_TEST_TMP'"

step "toolchain"
# The target cache lives outside the clone and outlives runs: stale test binaries pile up there. Start
# over when it has grown past its budget or the disk is nearly full, and fail clearly if even then
# there is no room to build (a linker that runs out of disk dies with a bus error, not a message).
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi
ensure_build_space "$CARGO_TARGET_DIR"
need_cmd cargo "a Rust toolchain (cargo, rustc >= 1.85) — install it with rustup"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest missing: installing it from crates.io"
  cargo install cargo-nextest --locked
fi

for f in "$ROOT"/scripts/setup.d/*.sh; do
  [ -e "$f" ] || continue
  step "setup: $(basename "$f")"
  # shellcheck disable=SC1090
  source "$f"
done

step "cargo nextest (every crate, every feature)"
cargo nextest run --workspace --all-features --no-fail-fast

step "doc tests"
cargo test --workspace --all-features --doc

for f in "$ROOT"/scripts/check.d/*.sh; do
  [ -e "$f" ] || continue
  step "check: $(basename "$f")"
  bash "$f"
done

step "all tests passed"

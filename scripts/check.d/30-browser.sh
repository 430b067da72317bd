#!/usr/bin/env bash
# Browser check of the dashboard: starts the axum example (README's first command, on a free port,
# with demo traffic) and opens /_spyglass in headless Chromium (playwright-core driving Debian's
# chromium). See browser_check in scripts/lib.sh for what it checks. Run by scripts/test-all.sh
# after scripts/setup.d/30-chromium.sh.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$ROOT/scripts/lib.sh"
browser_check spyglass-example-axum "axum example" dashboard.png

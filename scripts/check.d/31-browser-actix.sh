#!/usr/bin/env bash
# Browser check of the dashboard served by the actix-web middleware: the same check as
# 30-browser.sh (browser_check in scripts/lib.sh) on the actix example, which serves the same
# routes, with its own screenshot. Run by scripts/test-all.sh after scripts/setup.d/30-chromium.sh.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$ROOT/scripts/lib.sh"
browser_check spyglass-example-actix "actix example" dashboard-actix.png

# Headless Chromium and Node for the dashboard's browser check (scripts/check.d/30-browser.sh).
# Sourced by scripts/test-all.sh.
apt_install chromium
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
need_cmd chromium "Debian package chromium"
need_cmd node "Debian package nodejs"
need_cmd npm "Debian package npm"
if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
  echo "installing playwright-core (tests/browser, from package-lock.json)"
  (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent) || ci_fail "npm ci in tests/browser failed"
fi

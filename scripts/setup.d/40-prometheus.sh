# Sourced by scripts/test-all.sh: Debian's Prometheus server and promtool, for the Prometheus
# exporter's tests (spyglass-exporters/tests/prometheus_*.rs) and scripts/check.d/40-prometheus.sh.
#
# Exports:
#   SPYGLASS_TEST_PROMTOOL    path of promtool (`promtool check metrics` / `check rules`)
#   SPYGLASS_TEST_PROMETHEUS  path of the prometheus server binary (tests start their own instance
#                             on 127.0.0.1 with a temporary config and data dir)

# The Debian package's maintainer scripts would start a system-wide server on :9090; the tests start
# their own, so keep the package from starting services while it installs (when we may).
_spyglass_policy_rc=""
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  _spyglass_policy_rc=/usr/sbin/policy-rc.d
fi
apt_install prometheus
if [ -n "$_spyglass_policy_rc" ]; then rm -f "$_spyglass_policy_rc"; fi
unset _spyglass_policy_rc

need_cmd promtool "Debian package prometheus (apt-get install prometheus)"
need_cmd prometheus "Debian package prometheus (apt-get install prometheus)"
SPYGLASS_TEST_PROMTOOL=$(command -v promtool)
SPYGLASS_TEST_PROMETHEUS=$(command -v prometheus)
export SPYGLASS_TEST_PROMTOOL SPYGLASS_TEST_PROMETHEUS
echo "promtool: $SPYGLASS_TEST_PROMTOOL ($("$SPYGLASS_TEST_PROMTOOL" --version 2>&1 | head -n1))"

# Sourced by scripts/test-all.sh (see scripts/lib.sh for the helpers).
#
# A throwaway PostgreSQL for the sqlx and diesel tests: Debian's server, a fresh cluster in
# $SPYGLASS_TEST_TMP/pg owned by the `postgres` user (the server refuses to run as root), listening on
# 127.0.0.1 on a free port with its socket inside the temp dir, stopped when the run ends.
# Exports SPYGLASS_TEST_PG_URL=postgres://spyglass@127.0.0.1:PORT/spyglass_test.
#
# Also installs what the *build* needs: libpq-dev (diesel's postgres backend links libpq) and
# libsqlite3-dev (diesel's sqlite backend when it is not built bundled). This script runs before cargo.

apt_install postgresql libpq-dev libsqlite3-dev

_pg_bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  _pg_bindir=$(pg_config --bindir)
fi
if [ -z "$_pg_bindir" ]; then
  # Debian keeps the server binaries out of PATH: /usr/lib/postgresql/<major>/bin.
  for _d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$_d/initdb" ] && [ -x "$_d/pg_ctl" ]; then
      _pg_bindir=$_d
      break
    fi
  done
fi
[ -n "$_pg_bindir" ] || ci_fail "PostgreSQL server binaries (initdb, pg_ctl) not found after installing postgresql"

_pg_user=postgres
id "$_pg_user" >/dev/null 2>&1 || ci_fail "the 'postgres' system user is missing (the postgresql package creates it)"
if [ "$(id -u)" -eq 0 ]; then
  _pg_as() { runuser -u "$_pg_user" -- "$@"; }
elif [ "$(id -un)" = "$_pg_user" ]; then
  _pg_as() { "$@"; }
else
  # Not root: run the cluster as ourselves (PostgreSQL only refuses root).
  _pg_user=$(id -un)
  _pg_as() { "$@"; }
fi

_pg_dir="$SPYGLASS_TEST_TMP/pg"
_pg_sock="$SPYGLASS_TEST_TMP/pg-sock"
mkdir -p "$_pg_dir" "$_pg_sock"
# The server user must be able to reach its directories through the temp dir.
chmod 755 "$SPYGLASS_TEST_TMP"
chown "$_pg_user" "$_pg_dir" "$_pg_sock"
chmod 700 "$_pg_dir"

_pg_as "$_pg_bindir/initdb" -D "$_pg_dir/data" -U spyglass --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$SPYGLASS_TEST_TMP/pg-initdb.log" 2>&1 \
  || { cat "$SPYGLASS_TEST_TMP/pg-initdb.log" >&2; ci_fail "initdb failed"; }

_pg_port=$(free_port)
_pg_as "$_pg_bindir/pg_ctl" -D "$_pg_dir/data" -l "$_pg_dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $_pg_port -k $_pg_sock -c fsync=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null \
  || { cat "$_pg_dir/server.log" >&2; ci_fail "PostgreSQL did not start"; }
on_exit "runuser -u '$_pg_user' -- '$_pg_bindir/pg_ctl' -D '$_pg_dir/data' -m immediate stop >/dev/null 2>&1 || '$_pg_bindir/pg_ctl' -D '$_pg_dir/data' -m immediate stop >/dev/null 2>&1"

wait_for "'$_pg_bindir/pg_isready' -h 127.0.0.1 -p $_pg_port" 30 "PostgreSQL on 127.0.0.1:$_pg_port"
_pg_as "$_pg_bindir/createdb" -h 127.0.0.1 -p "$_pg_port" -U spyglass spyglass_test \
  || ci_fail "createdb spyglass_test failed"

export SPYGLASS_TEST_PG_URL="postgres://spyglass@127.0.0.1:$_pg_port/spyglass_test"
echo "PostgreSQL ready: $SPYGLASS_TEST_PG_URL (data in $_pg_dir)"
unset _pg_bindir _pg_user _pg_dir _pg_sock _pg_port _d
unset -f _pg_as

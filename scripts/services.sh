#!/usr/bin/env bash
# Start/stop the local services neutrino's tests need, without systemd.
#   services.sh postgres-start | postgres-stop | ovs-start | ovs-stop | status
# All subcommands are idempotent.
set -euo pipefail

PG_VER=15
PG_CLUSTER=main
PG_PORT=5432
PG_HOST=127.0.0.1
PG_ROLE=neutrino
PG_PASS=neutrino
PG_DB=neutrino_test
PG_URL="postgresql+psycopg://${PG_ROLE}:${PG_PASS}@${PG_HOST}:${PG_PORT}/${PG_DB}"

OVS_CTL="${OVS_CTL:-}"
OVS_RUNDIR=/var/run/openvswitch
OVS_LOGDIR=/var/log/openvswitch

say() { printf '[services] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"

# ------------------------------------------------------------------ PostgreSQL
pg_running() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VER" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}' | grep -q '^online'
}
pg_psql() { runuser -u postgres -- psql -p "$PG_PORT" -X -q -v ON_ERROR_STOP=1 "$@"; }

postgres_start() {
  command -v pg_ctlcluster >/dev/null || die "postgresql-common not installed (run scripts/bootstrap.sh)"
  [ -x "/usr/lib/postgresql/$PG_VER/bin/postgres" ] || die "postgresql-$PG_VER not installed"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$PG_VER $PG_CLUSTER"; then
    say "postgres: creating cluster $PG_VER/$PG_CLUSTER"
    pg_createcluster "$PG_VER" "$PG_CLUSTER" -p "$PG_PORT" >/dev/null
  fi
  # Loopback only, fixed port; test-speed settings (durability is not needed for a test DB).
  # Written as a conf.d drop-in (Debian's postgresql.conf includes conf.d/*.conf last).
  local dropin="/etc/postgresql/$PG_VER/$PG_CLUSTER/conf.d/90-neutrino.conf" want
  want="# Managed by neutrino scripts/services.sh
listen_addresses = '$PG_HOST'
port = $PG_PORT
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off"
  if [ "$(cat "$dropin" 2>/dev/null || true)" != "$want" ]; then
    mkdir -p "$(dirname "$dropin")"
    printf '%s\n' "$want" >"$dropin"
    pg_running && PG_NEEDS_RESTART=1
  fi
  mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql && chmod 2775 /var/run/postgresql
  if pg_running; then
    if [ "${PG_NEEDS_RESTART:-0}" = 1 ]; then
      say "postgres: restarting $PG_VER/$PG_CLUSTER (config changed)"
      pg_ctlcluster "$PG_VER" "$PG_CLUSTER" restart
    else
      say "postgres: $PG_VER/$PG_CLUSTER already running"
    fi
  else
    say "postgres: starting $PG_VER/$PG_CLUSTER"
    pg_ctlcluster "$PG_VER" "$PG_CLUSTER" start
  fi
  local i
  for i in $(seq 1 60); do
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
    sleep 0.5
  done
  pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || die "postgres not accepting connections on $PG_HOST:$PG_PORT"

  pg_psql -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_ROLE}') THEN
    CREATE ROLE ${PG_ROLE} LOGIN PASSWORD '${PG_PASS}' NOSUPERUSER CREATEDB NOCREATEROLE;
  ELSE
    ALTER ROLE ${PG_ROLE} LOGIN PASSWORD '${PG_PASS}' NOSUPERUSER CREATEDB NOCREATEROLE;
  END IF;
END
\$\$;
SQL
  if [ "$(pg_psql -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname='${PG_DB}'")" != 1 ]; then
    say "postgres: creating database $PG_DB"
    pg_psql -d postgres -c "CREATE DATABASE ${PG_DB} OWNER ${PG_ROLE}"
  fi
  # Check the URL really works with password auth over TCP.
  PGPASSWORD="$PG_PASS" psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" -At -c 'SELECT 1' >/dev/null \
    || die "cannot log in as $PG_ROLE@$PG_HOST:$PG_PORT/$PG_DB"
  echo "$PG_URL"
}

postgres_stop() {
  if pg_running; then
    say "postgres: stopping $PG_VER/$PG_CLUSTER"
    pg_ctlcluster "$PG_VER" "$PG_CLUSTER" stop -m fast
  else
    say "postgres: not running"
  fi
}

# ------------------------------------------------------------------ Open vSwitch
find_ovs_ctl() {
  if [ -n "$OVS_CTL" ]; then echo "$OVS_CTL"; return; fi
  local p
  p="$(dpkg -L openvswitch-switch 2>/dev/null | grep '/ovs-ctl$' | head -n1 || true)"
  [ -n "$p" ] || p=/usr/share/openvswitch/scripts/ovs-ctl
  [ -x "$p" ] || die "ovs-ctl not found (is openvswitch-switch installed?)"
  echo "$p"
}
ovs_ok() { ovs-vsctl --timeout=3 show >/dev/null 2>&1; }
vswitchd_running() { ovs-appctl --timeout=3 -t ovs-vswitchd version >/dev/null 2>&1; }

ovs_start() {
  if ovs_ok && vswitchd_running; then
    say "ovs: already running"
    return 0
  fi
  local ctl; ctl="$(find_ovs_ctl)"
  mkdir -p "$OVS_RUNDIR" "$OVS_LOGDIR"
  say "ovs: starting with $ctl (userspace datapath, no monitor)"
  # ovs-ctl skips modprobe when the kernel has no module support; when it has support but no
  # openvswitch module, 'start' fails at the modprobe step after ovsdb-server is up, so we then
  # launch ovs-vswitchd ourselves (it only needs the module for datapath_type=system bridges).
  if ! "$ctl" start --system-id=random --no-monitor --no-mlockall >"$OVS_LOGDIR/ovs-ctl-start.log" 2>&1; then
    say "ovs: ovs-ctl start failed (no kernel module?); starting daemons directly"
    if ! ovs_ok; then
      "$ctl" start --system-id=random --no-monitor --no-ovs-vswitchd >>"$OVS_LOGDIR/ovs-ctl-start.log" 2>&1 \
        || { cat "$OVS_LOGDIR/ovs-ctl-start.log" >&2; die "ovsdb-server failed to start"; }
    fi
    if ! vswitchd_running; then
      ovs-vswitchd "unix:$OVS_RUNDIR/db.sock" -vconsole:emer -vsyslog:err -vfile:info \
        --no-chdir --log-file="$OVS_LOGDIR/ovs-vswitchd.log" --pidfile="$OVS_RUNDIR/ovs-vswitchd.pid" --detach \
        || die "ovs-vswitchd failed to start"
    fi
  fi
  local i
  for i in $(seq 1 20); do ovs_ok && vswitchd_running && break; sleep 0.25; done
  ovs_ok || die "ovsdb-server not answering (see $OVS_LOGDIR)"
  vswitchd_running || die "ovs-vswitchd not answering (see $OVS_LOGDIR)"

  # Smoke test: a userspace (netdev) bridge can be created and removed.
  local br=ntest-br0
  ovs-vsctl --timeout=10 --may-exist add-br "$br" -- set bridge "$br" datapath_type=netdev
  ovs-vsctl --timeout=10 br-exists "$br" || die "bridge $br was not created"
  ovs-vsctl --timeout=10 --if-exists del-br "$br"
  say "ovs: running ($(ovs-vsctl --timeout=3 get Open_vSwitch . ovs_version | tr -d '"'))"
}

ovs_stop() {
  if ovs_ok || vswitchd_running; then
    say "ovs: stopping"
    "$(find_ovs_ctl)" stop >/dev/null 2>&1 || true
  else
    say "ovs: not running"
  fi
}

status() {
  if pg_running; then echo "postgres: running ($PG_URL)"; else echo "postgres: stopped"; fi
  if ovs_ok && vswitchd_running; then echo "ovs: running"; else echo "ovs: stopped"; fi
}

case "${1:-}" in
  postgres-start) postgres_start ;;
  postgres-stop)  postgres_stop ;;
  ovs-start)      ovs_start ;;
  ovs-stop)       ovs_stop ;;
  status)         status ;;
  *) echo "usage: $0 {postgres-start|postgres-stop|ovs-start|ovs-stop|status}" >&2; exit 2 ;;
esac

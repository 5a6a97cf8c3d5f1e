#!/usr/bin/env bash
# Idempotent machine + venv bootstrap for neutrino.
#   - installs the Debian packages the project needs (apt-get update only if something is missing)
#   - creates .venv with Python 3.11 if missing
#   - pip install -e '.[test]' (constrained by scripts/constraints.txt) unless the stamp matches
# A second run with nothing changed finishes in well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(
  openvswitch-switch openvswitch-common dnsmasq-base iptables nftables iproute2 tcpdump iperf3
  ethtool conntrack postgresql postgresql-15 graphviz procps psmisc gcc make iputils-ping iputils-arping
  bridge-utils isc-dhcp-client
)
VENV="$ROOT/.venv"
CONSTRAINTS="$ROOT/scripts/constraints.txt"
STAMP="$VENV/.bootstrap-stamp"
LOG="${TMPDIR:-/tmp}/neutrino-bootstrap.$$.log"

say() { printf '[bootstrap] %s\n' "$*"; }
run_logged() {  # run quietly; show the log only on failure
  if ! "$@" >"$LOG" 2>&1; then
    say "FAILED: $*"; tail -n 60 "$LOG" >&2; rm -f "$LOG"; return 1
  fi
  rm -f "$LOG"
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages --------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run_logged as_root apt-get update
  run_logged as_root apt-get install -y --no-install-recommends "${missing[@]}"
else
  say "apt: all ${#APT_PACKAGES[@]} packages present"
fi

# 2. virtualenv -------------------------------------------------------------------------------
pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for c in /root/.pyenv/versions/3.11.7/bin/python3 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      command -v "$c"; return
    fi
  done
  echo "no Python 3.11 found (set PYTHON=...)" >&2; return 1
}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  py="$(pick_python)"
  say "venv: creating .venv with $py"
  rm -rf "$VENV"
  run_logged "$py" -m venv "$VENV"
  run_logged "$VENV/bin/python" -m pip install -q -U pip setuptools wheel
else
  say "venv: .venv present ($("$VENV/bin/python" -V 2>&1))"
fi

# 3. Python dependencies ----------------------------------------------------------------------
want="$(cat pyproject.toml "$CONSTRAINTS" 2>/dev/null | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" = "$have" ] && [ -x "$VENV/bin/neutrino" ]; then
  say "pip: up to date (stamp matches pyproject.toml + constraints)"
else
  say "pip: installing -e '.[test]'"
  cargs=()
  [ -f "$CONSTRAINTS" ] && cargs=(-c "$CONSTRAINTS")
  run_logged "$VENV/bin/pip" install -q --disable-pip-version-check "${cargs[@]}" -e '.[test]'
  echo "$want" >"$STAMP"
fi
say "done"

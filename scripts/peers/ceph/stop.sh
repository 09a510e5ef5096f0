#!/usr/bin/env bash
# Stops the Ceph peer started by start.sh: radosgw, then the OSD, then the monitor (by pid file: TERM, up to 10 s, then
# KILL), then any stray ceph daemon whose command line names $PEERS_DIR/ceph/ceph.conf. Idempotent; keeps the data dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
PEERS_DIR="$(realpath -m "${IMAGE_SERVICE_PEERS_DIR:-$repo/.peers}")"
D="$PEERS_DIR/ceph"
CONF="$D/ceph.conf"

# Is pid a ceph daemon of this peer? (guards against a stale pid file naming a reused pid)
ours() {
  local pid=$1 args
  [ -r "/proc/$pid/cmdline" ] || return 1
  args="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  case "$(basename "$(head -n 1 <<<"$args")")" in ceph-mon | ceph-osd | radosgw) ;; *) return 1 ;; esac
  grep -qxF -- "$CONF" <<<"$args"
}

stop_pid() {
  local pid=$1 what=$2 i
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
    sleep 0.1
  done
  echo "ceph: $what (pid $pid) did not stop within 10 s, killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

for name in client.rgw.a osd.0 mon.a; do
  pidfile="$D/run/ceph-$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(tr -dc '0-9' <"$pidfile" || true)"
  [ -z "$pid" ] || stop_pid "$pid" "$name"
  rm -f "$pidfile"
done

# Fallback: strays (lost pid file, half-finished start). Same order: radosgw, osd, mon.
for exe in radosgw ceph-osd ceph-mon; do
  for pid in $(pgrep -x "$exe" || true); do
    stop_pid "$pid" "stray $exe"
  done
done
# Also match by command line, in case a daemon renamed its main thread.
for pid in $(pgrep -f -- "(ceph-mon|ceph-osd|radosgw) .*-c $D/ceph.conf" || true); do
  stop_pid "$pid" "stray ceph daemon"
done

exit 0

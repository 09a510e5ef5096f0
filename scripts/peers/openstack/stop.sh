#!/usr/bin/env bash
# Stops the OpenStack peer (Keystone under uwsgi, glance-api "noauth" and "keystone") started by start.sh.
# By pid file first (TERM to the process group, wait, KILL), then any stray process whose command line mentions
# $PEERS_DIR/openstack. Idempotent: exits 0 when nothing runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../../.." && pwd)"
PEERS_DIR="${IMAGE_SERVICE_PEERS_DIR:-$repo_root/.peers}"
[ -d "$PEERS_DIR" ] || exit 0
PEERS_DIR="$(cd "$PEERS_DIR" && pwd)" # absolute, as start.sh uses it on the daemons' command lines
state="$PEERS_DIR/openstack"

# A process counts as gone when it does not exist or is a zombie (pid 1 on these machines reaps slowly).
alive() {
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [ -n "$st" ] && [ "$st" != "Z" ]
}

# stop_pids <pid>...: TERM each (and its process group when it leads one), wait up to 10 s, then KILL.
stop_pids() {
  local pid pids=() deadline
  for pid in "$@"; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    [ "$pid" -gt 1 ] || continue
    [ "$pid" != "$$" ] || continue
    alive "$pid" || continue
    pids+=("$pid")
    # start.sh runs every daemon under setsid, so the daemon leads its own process group (workers included).
    if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
      kill -TERM -- "-$pid" 2>/dev/null || true
    fi
    kill -TERM "$pid" 2>/dev/null || true
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  deadline=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$deadline" ]; do
    local any=0
    for pid in "${pids[@]}"; do alive "$pid" && any=1; done
    [ "$any" = 0 ] && return 0
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      echo "openstack: pid $pid ignored TERM, sending KILL" >&2
      kill -KILL -- "-$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  sleep 0.5
}

# owned <pid>: its command line mentions our state directory (guards against a recycled pid in a stale pid file).
owned() {
  local cmdline
  cmdline="$( { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true)"
  [[ "$cmdline" == *"$state/"* ]]
}

# All pid files at once (each daemon takes about 1 s to shut down; in parallel rather than one after the other).
if [ -d "$state/run" ]; then
  pids=()
  for f in "$state"/run/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && owned "$pid"; then pids+=("$pid"); fi
  done
  [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
  rm -f "$state"/run/*.pid
fi

# Fallback: stray processes whose command line mentions our state directory (e.g. uwsgi/glance workers whose
# pid file was lost). Match the path literally (pgrep -f takes a regex) and never ourselves or our parents.
pattern="$(printf '%s' "$state" | sed 's/[][\.*^$+?(){}|]/\\&/g')"
ancestors=" "
p=$$
while [ -n "$p" ] && [ "$p" -gt 1 ]; do
  ancestors+="$p "
  p="$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ' || true)"
done
for round in 1 2; do
  strays=()
  while read -r pid; do
    [ -n "$pid" ] || continue
    case "$ancestors" in *" $pid "*) continue ;; esac
    strays+=("$pid")
  done < <(pgrep -f -- "$pattern" || true)
  [ "${#strays[@]}" -gt 0 ] || break
  echo "openstack: stopping stray processes: ${strays[*]}" >&2
  stop_pids "${strays[@]}"
done
exit 0

#!/usr/bin/env bash
# Stops the nginx started by start.sh (by its pid file, then any nginx master still running with our config);
# idempotent, exits 0 when nothing runs. Leaves $PEERS_DIR/nginx/ in place (logs stay readable).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../../.." && pwd)
PEERS_DIR=${IMAGE_SERVICE_PEERS_DIR:-$repo_root/.peers}
PEERS_DIR=$(realpath -m "$PEERS_DIR")
dir=$PEERS_DIR/nginx
pid_file=$dir/nginx.pid

# A zombie counts as gone: the daemonized master's parent is init, which may reap it late.
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

# Wait up to $2 tenths of a second for pid $1 to exit.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

# Is pid $1 an nginx master started with our config? (Guards against a recycled pid.)
ours() {
  local cmdline
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = nginx ] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$dir/nginx.conf"* ]]
}

stop_master() {
  local master=$1 workers
  workers=$(pgrep -P "$master" 2>/dev/null || true)
  kill -TERM "$master" 2>/dev/null || true # fast shutdown: in-flight (e.g. rate-limited) downloads are cut
  if ! wait_gone "$master" 50; then
    echo "nginx: master $master ignored TERM for 5s; killing" >&2
    kill -KILL "$master" 2>/dev/null || true
    wait_gone "$master" 20 || true
  fi
  # Workers orphaned by a killed master keep the listening sockets: kill them too.
  for w in $workers; do
    if [ "$(cat "/proc/$w/comm" 2>/dev/null)" = nginx ]; then
      kill -KILL "$w" 2>/dev/null || true
    fi
  done
}

stopped=0
if [ -s "$pid_file" ]; then
  pid=$(tr -dc '0-9' <"$pid_file")
  if [ -n "$pid" ] && alive "$pid" && ours "$pid"; then
    stop_master "$pid"
    stopped=1
  fi
  rm -f "$pid_file"
fi

# Fallback: any nginx process whose command line names our folder (a lost pid file, a previous PEERS_DIR run).
pattern=$(printf '%s' "$dir/" | sed 's/[][\.*^$+?(){}|]/\\&/g')
for pid in $(pgrep -f -- "$pattern" 2>/dev/null || true); do
  [ "$pid" != "$$" ] && alive "$pid" || continue
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] || continue
  stop_master "$pid"
  stopped=1
done

if [ "$stopped" = 1 ]; then echo "nginx: stopped"; else echo "nginx: not running"; fi
exit 0

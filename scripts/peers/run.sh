#!/usr/bin/env bash
# Starts the real peers (all, or those named in IMAGE_SERVICE_PEERS), runs the given command, and stops the peers
# whatever happens. A peer that cannot start fails the run loudly: peer tests never skip.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export IMAGE_SERVICE_PEERS_DIR=${IMAGE_SERVICE_PEERS_DIR:-$(cd "$here/../.." && pwd)/.peers}
read -r -a peers <<< "${IMAGE_SERVICE_PEERS:-nginx ceph openstack}"
mkdir -p "$IMAGE_SERVICE_PEERS_DIR"

stop_all() {
  for p in "${peers[@]}"; do bash "$here/$p/stop.sh" >/dev/null 2>&1 || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

declare -A pids
for p in "${peers[@]}"; do
  bash "$here/$p/start.sh" > "$IMAGE_SERVICE_PEERS_DIR/$p.start.log" 2>&1 &
  pids[$p]=$!
done
failed=0
for p in "${peers[@]}"; do
  if wait "${pids[$p]}"; then
    tail -n 1 "$IMAGE_SERVICE_PEERS_DIR/$p.start.log"
  else
    echo "peers: $p failed to start:" >&2
    tail -n 60 "$IMAGE_SERVICE_PEERS_DIR/$p.start.log" >&2
    failed=1
  fi
done
[ "$failed" -eq 0 ] || exit 1
"$@"

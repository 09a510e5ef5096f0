#!/usr/bin/env bash
# Starts a throw-away Ceph cluster on loopback for the S3 peer tests: one monitor, one memstore OSD and radosgw
# (beast front end). Everything lives under $PEERS_DIR/ceph/ (nothing in /etc/ceph or /var/lib/ceph), the data is in
# memory and wiped on every start. Writes $PEERS_DIR/ceph.json and prints "ceph: ready at <endpoint> in <N>s".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
PEERS_DIR="${IMAGE_SERVICE_PEERS_DIR:-$repo/.peers}"
mkdir -p "$PEERS_DIR"
PEERS_DIR="$(cd "$PEERS_DIR" && pwd)"
D="$PEERS_DIR/ceph"
JSON="$PEERS_DIR/ceph.json"

RGW_PORT="${IMAGE_SERVICE_CEPH_RGW_PORT:-7480}"
MEMSTORE_BYTES="${IMAGE_SERVICE_CEPH_MEMSTORE_BYTES:-6442450944}"
MON_V2_PORT=3300
MON_V1_PORT=6789
ENDPOINT="http://127.0.0.1:$RGW_PORT"
REGION="us-east-1"

# Fixed test credentials (this is a throw-away test peer on loopback).
ACCESS_KEY="IMAGESERVICETESTKEY01"
SECRET_KEY="imageserviceTestSecret0001xxxxxxxxxxxxxx"
OTHER_ACCESS_KEY="IMAGESERVICETESTKEY02"
OTHER_SECRET_KEY="imageserviceTestSecret0002yyyyyyyyyyyyyy"

case "$RGW_PORT" in '' | *[!0-9]*) echo "ceph: IMAGE_SERVICE_CEPH_RGW_PORT must be a port number" >&2; exit 1 ;; esac
case "$MEMSTORE_BYTES" in '' | *[!0-9]*) echo "ceph: IMAGE_SERVICE_CEPH_MEMSTORE_BYTES must be a byte count" >&2; exit 1 ;; esac

for tool in ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin ceph curl timeout; do
  command -v "$tool" >/dev/null || { echo "ceph: '$tool' not found (run scripts/peers/install.sh)" >&2; exit 1; }
done

t0=$SECONDS
ready=0

logs_tail() {
  local f
  for f in "$D"/log/*.log "$D"/log/*.out; do
    [ -s "$f" ] || continue
    echo "----- last 40 lines of $f -----" >&2
    tail -n 40 "$f" >&2 || true
  done
}

on_exit() {
  local rc=$?
  if [ "$ready" -ne 1 ]; then
    [ "$rc" -ne 0 ] || rc=1
    echo "ceph: start failed (exit $rc)" >&2
    logs_tail
    "$here/stop.sh" >&2 || true
    rm -f "$JSON"
  fi
  exit "$rc"
}

fail() {
  echo "ceph: $*" >&2
  exit 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command with no stdin and a time limit; output goes to the setup log.
run() {
  echo "+ $*" >>"$D/log/setup.out"
  timeout 60 "$@" </dev/null >>"$D/log/setup.out" 2>&1
}

# Stop a previous run, then wipe its state.
"$here/stop.sh"
rm -f "$JSON"
case "$D" in /*/ceph) rm -rf "$D" ;; *) echo "ceph: refusing to wipe '$D'" >&2; exit 1 ;; esac
mkdir -p "$D"/{run,log,mon,osd,rgw,crash,tmp}

trap on_exit EXIT

for p in "$MON_V2_PORT" "$MON_V1_PORT" "$RGW_PORT"; do
  if port_busy "$p"; then
    fail "port 127.0.0.1:$p is already in use (another ceph or service?); ss -ltnp: $(ss -ltnp "sport = :$p" 2>/dev/null | tail -n +2)"
  fi
done

FSID="$(cat /proc/sys/kernel/random/uuid)"
OSD_UUID="$(cat /proc/sys/kernel/random/uuid)"
CONF="$D/ceph.conf"

cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false

auth cluster required = none
auth service required = none
auth client required = none

run dir = $D/run
admin socket = $D/run/\$cluster-\$name.asok
pid file = $D/run/\$cluster-\$name.pid
log file = $D/log/\$cluster-\$name.log
log to stderr = false
err to stderr = false
log to syslog = false
mon cluster log file = $D/log/\$cluster.cluster.log
mon cluster log to syslog = false
crash dir = $D/crash
keyring = $D/keyring
tmp dir = $D/tmp
debug ms = 0
debug mon = 1
debug osd = 1
debug rgw = 1

osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 1
# Commit monitor map changes (pool creations by radosgw, OSD boot) quickly instead of once a second.
paxos propose interval = 0.1

[mon]
mon data = $D/mon/\$cluster-\$id

[osd]
osd data = $D/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES

[client]
ms mon client mode = crc

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
EOF

DAEMON_ARGS=(-c "$CONF" --setuser root --setgroup root)

# Monitor.
run ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' ||
  fail "ceph-authtool failed"
run ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
  --cap mds 'allow *' --cap mgr 'allow *' || fail "ceph-authtool (client.admin) failed"
run monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
  "$D/monmap" || fail "monmaptool failed"
mkdir -p "$D/mon/ceph-a"
run ceph-mon "${DAEMON_ARGS[@]}" -i a --mkfs --monmap "$D/monmap" --keyring "$D/keyring" ||
  fail "ceph-mon --mkfs failed"
run ceph-mon "${DAEMON_ARGS[@]}" -i a || fail "ceph-mon did not start"

ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@" </dev/null 2>>"$D/log/setup.out"; }

deadline=$((SECONDS + 30))
until ceph_cli mon stat >/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the monitor did not answer within 30 s"
  sleep 0.5
done

# OSD (memstore: data in memory, capped at memstore device bytes).
OSD_ID="$(ceph_cli osd new "$OSD_UUID")" || fail "ceph osd new failed"
[ "$OSD_ID" = 0 ] || fail "unexpected osd id '$OSD_ID'"
mkdir -p "$D/osd/ceph-0"
run ceph-osd "${DAEMON_ARGS[@]}" -i 0 --mkfs --osd-uuid "$OSD_UUID" || fail "ceph-osd --mkfs failed"
run ceph-osd "${DAEMON_ARGS[@]}" -i 0 || fail "ceph-osd did not start"

deadline=$((SECONDS + 45))
until [ "$(ceph_cli osd dump --format plain 2>/dev/null | grep -c '^osd\.0 up')" = 1 ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "osd.0 did not come up within 45 s"
  sleep 0.5
done

# radosgw.
run radosgw "${DAEMON_ARGS[@]}" -n client.rgw.a || fail "radosgw did not start"

deadline=$((SECONDS + 90))
until curl -s -o /dev/null --max-time 2 "$ENDPOINT/"; do
  [ "$SECONDS" -lt "$deadline" ] || fail "radosgw did not answer on $ENDPOINT within 90 s"
  pid="$(cat "$D/run/ceph-client.rgw.a.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then fail "radosgw (pid $pid) exited"; fi
  # radosgw keeps running when its front end cannot bind; don't wait 90 s for that.
  if grep -q 'failed initializing frontend' "$D/log/ceph-client.rgw.a.log" 2>/dev/null; then
    fail "radosgw could not start its front end: $(grep -m1 'failed to bind' "$D/log/ceph-client.rgw.a.log" || true)"
  fi
  sleep 0.5
done

# S3 users: the main test user and a second one (another user's bucket, wrong key/secret tests).
run radosgw-admin -c "$CONF" user create --uid=imageservice --display-name="image-service tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" || fail "radosgw-admin user create (imageservice) failed"
run radosgw-admin -c "$CONF" user create --uid=imageservice-other --display-name="image-service other user" \
  --access-key="$OTHER_ACCESS_KEY" --secret-key="$OTHER_SECRET_KEY" ||
  fail "radosgw-admin user create (imageservice-other) failed"

# Warm-up: the first CreateBucket, PutObject and multipart upload each make radosgw create a pool (bucket index, data,
# non-ec; about 1-3 s each). Do them once here (then undo them) so that the tests' first requests are fast. This also
# proves that SigV4 requests with the test user's keys work. curl signs SigV4 itself; radosgw wants the
# x-amz-content-sha256 header, and curl mis-signs a query parameter without "=", hence "?uploads=".
s3() { # s3 <method> <path> <expected http code> [curl args...]
  local method=$1 path=$2 want=$3 code
  shift 3
  code="$(curl -s -o "$D/log/warmup.body" -w '%{http_code}' --max-time 60 --aws-sigv4 "aws:amz:$REGION:s3" \
    --user "$ACCESS_KEY:$SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X "$method" "$@" \
    "$ENDPOINT$path" </dev/null)" || true
  [ "$code" = "$want" ] ||
    fail "warm-up $method $path answered HTTP '$code' (want $want): $(head -c 500 "$D/log/warmup.body" 2>/dev/null)"
}
s3 PUT /imageservice-warmup 200
s3 PUT /imageservice-warmup/object 200 --data-binary warm-up
s3 POST '/imageservice-warmup/multipart?uploads=' 200
upload_id="$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' "$D/log/warmup.body")"
[ -n "$upload_id" ] || fail "warm-up: no UploadId in $(head -c 500 "$D/log/warmup.body")"
s3 DELETE "/imageservice-warmup/multipart?uploadId=$upload_id" 204
s3 DELETE /imageservice-warmup/object 204
s3 DELETE /imageservice-warmup 204
rm -f "$D/log/warmup.body"

cat >"$JSON.tmp" <<EOF
{"endpoint":"$ENDPOINT","region":"$REGION","forcePathStyle":true,"accessKeyId":"$ACCESS_KEY","secretAccessKey":"$SECRET_KEY","otherUser":{"accessKeyId":"$OTHER_ACCESS_KEY","secretAccessKey":"$OTHER_SECRET_KEY"},"memstoreBytes":$MEMSTORE_BYTES}
EOF
mv "$JSON.tmp" "$JSON"

ready=1
echo "ceph: ready at $ENDPOINT in $((SECONDS - t0))s"

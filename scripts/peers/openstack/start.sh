#!/usr/bin/env bash
# Starts the OpenStack peer on 127.0.0.1 and writes $PEERS_DIR/openstack.json:
#   Keystone (uwsgi)            :5000  sqlite + fernet, seeded through the v3 API
#   glance-api "noauth"   (A)   :9292  [paste_deploy] flavor = (unauthenticated context)
#   glance-api "keystone" (B)   :9293  flavor = keystone, keystonemiddleware auth_token, no token cache
# All state (configs, sqlite dbs, keys, image stores, logs, pid files) lives under $PEERS_DIR/openstack/ and is wiped
# at every start. Reads /etc/glance/glance-api-paste.ini (copied) and /etc/glance/schema-image.json; writes nothing
# outside $PEERS_DIR. On failure: prints the reason and the log tails, runs stop.sh, exits 1.
set -euo pipefail

t0=$(date +%s%N)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../../.." && pwd)"
PEERS_DIR="${IMAGE_SERVICE_PEERS_DIR:-$repo_root/.peers}"
mkdir -p "$PEERS_DIR"
PEERS_DIR="$(cd "$PEERS_DIR" && pwd)"
state="$PEERS_DIR/openstack"
json="$PEERS_DIR/openstack.json"
ks_dir="$state/keystone"
logs="$state/logs"
run="$state/run"

HOST=127.0.0.1
KS_PORT=5000
GA_PORT=9292
GB_PORT=9293
KS_URL="http://$HOST:$KS_PORT"
GA_URL="http://$HOST:$GA_PORT"
GB_URL="http://$HOST:$GB_PORT"
PY=/usr/bin/python3 # Debian's python3: the OpenStack libraries live there
WAIT_SECS=60

elapsed() { echo $(( ($(date +%s%N) - t0) / 1000000000 )); }
say() { echo "openstack: [$(elapsed)s] $*"; }

failed_cmd=""
reason=""
trap 'failed_cmd="line $LINENO: $BASH_COMMAND"' ERR
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] && return 0
  trap - ERR
  [ -n "$reason" ] || reason="command failed at $failed_cmd (exit $rc)"
  echo "openstack: FAILED: $reason" >&2
  if [ -d "$logs" ]; then
    for f in "$logs"/*; do
      [ -s "$f" ] || continue
      echo "----- tail of $f -----" >&2
      tail -n 25 "$f" >&2 || true
    done
  fi
  "$here/stop.sh" || true
  rm -f "$json"
  echo "openstack: start failed after $(elapsed)s: $reason" >&2
  exit 1
}
trap on_exit EXIT
fail() { reason="$*"; exit 1; }

# ------------------------------------------------------------------ preflight
for cmd in uwsgi keystone-manage glance-api glance-manage curl setsid pgrep "$PY"; do
  command -v "$cmd" >/dev/null || fail "$cmd not found (run scripts/peers/install.sh: glance-api keystone uwsgi uwsgi-plugin-python3)"
done
[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || fail "uwsgi python3 plugin missing (package uwsgi-plugin-python3)"
[ -e /usr/bin/keystone-wsgi-public ] || fail "/usr/bin/keystone-wsgi-public missing (package keystone)"
[ -r /etc/glance/glance-api-paste.ini ] || fail "/etc/glance/glance-api-paste.ini missing (package glance-api)"

"$here/stop.sh"
rm -rf "$state"
rm -f "$json"

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for port in "$KS_PORT" "$GA_PORT" "$GB_PORT"; do
  if port_busy "$port"; then
    fail "port $port on $HOST is already in use by another process: $(ss -ltnpH "sport = :$port" 2>/dev/null || true)"
  fi
done

mkdir -p "$logs" "$run" "$state/images" "$ks_dir"/{fernet-keys,credential-keys,policy.d}

secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
ADMIN_PASSWORD="admin-$(secret)"
DEMO_PASSWORD="demo-$(secret)"
OTHER_PASSWORD="other-$(secret)"
GLANCE_PASSWORD="glance-$(secret)"

# ------------------------------------------------------------------ configs
cat >"$ks_dir/keystone.conf" <<EOF
[DEFAULT]
log_dir = $logs
log_file = keystone.log
use_stderr = false
[database]
connection = sqlite:///$ks_dir/keystone.sqlite
[token]
provider = fernet
# default expiration (3600 s); revocation by id stays on (DELETE /v3/auth/tokens works)
revoke_by_id = true
[fernet_tokens]
key_repository = $ks_dir/fernet-keys
[fernet_receipts]
key_repository = $ks_dir/fernet-keys
[credential]
key_repository = $ks_dir/credential-keys
[cache]
# in-process cache (one uwsgi process, so revocations invalidate it at once): token validation ~15 ms instead of ~70
enabled = true
backend = dogpile.cache.memory
[identity]
# bcrypt's minimum cost: password checks in ms instead of ~0.3 s each (test peer only)
password_hash_rounds = 4
[catalog]
driver = sql
[oslo_policy]
policy_file = $ks_dir/policy.yaml
policy_dirs = $ks_dir/policy.d
EOF

cat >"$ks_dir/uwsgi.ini" <<EOF
[uwsgi]
plugins = python3
http-socket = $HOST:$KS_PORT
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_FILES=$ks_dir/keystone.conf
chdir = $ks_dir
master = true
# one process keeps the in-memory cache coherent (a revocation seen by one process only would leave the token valid
# in another); threads for concurrency
processes = 1
threads = 8
enable-threads = true
lazy-apps = true
die-on-term = true
no-orphans = true
buffer-size = 65535
listen = 100
# http-socket closes the connection after each response; say so, so clients do not try to reuse it
add-header = Connection: close
logto = $logs/keystone-uwsgi.log
EOF

# glance_conf <name> <port> <flavor>: writes $state/glance-<name>/{glance-api.conf,paste.ini,policy.yaml}
glance_conf() {
  local name="$1" port="$2" flavor="$3" dir="$state/glance-$1"
  mkdir -p "$dir"/{images,staging,tasks,cache,lock,policy.d}
  # Debian's paste file, copied so nothing is read from /etc at run time (healthcheck's disable file moved too).
  sed "s|/etc/glance/healthcheck_disable|$dir/healthcheck_disable|" /etc/glance/glance-api-paste.ini >"$dir/paste.ini"
  cat >"$dir/glance-api.conf" <<EOF
[DEFAULT]
bind_host = $HOST
bind_port = $port
workers = 1
log_dir = $logs
log_file = glance-$name.log
use_stderr = false
image_cache_dir = $dir/cache
node_staging_uri = file://$dir/staging
[database]
connection = sqlite:///$dir/glance.sqlite
[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $dir/images
[os_glance_staging_store]
filesystem_store_datadir = $dir/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/tasks
[oslo_concurrency]
lock_path = $dir/lock
[oslo_policy]
policy_file = $dir/policy.yaml
policy_dirs = $dir/policy.d
[paste_deploy]
flavor = $flavor
config_file = $dir/paste.ini
EOF
}

glance_conf noauth "$GA_PORT" ""
# Without Keystone the context has no roles, so publicize/communitize must be opened up explicitly.
cat >"$state/glance-noauth/policy.yaml" <<'EOF'
"publicize_image": ""
"communitize_image": ""
EOF

glance_conf keystone "$GB_PORT" keystone
cat >>"$state/glance-keystone/glance-api.conf" <<EOF
[keystone_authtoken]
www_authenticate_uri = $KS_URL
auth_url = $KS_URL
auth_type = password
user_domain_name = Default
project_domain_name = Default
project_name = service
username = glance
password = $GLANCE_PASSWORD
region_name = RegionOne
interface = public
# no memcached: no token cache at all, so a revoked token is refused at once
token_cache_time = -1
service_token_roles_required = false
http_connect_timeout = 10
http_request_max_retries = 1
EOF
# Zed defaults (enforce_new_defaults off) already let a project member create, share and communitize its
# images and let admin publicize; pinned here so the fixtures do not depend on Debian's /etc/glance/policy.d.
cat >"$state/glance-keystone/policy.yaml" <<'EOF'
"publicize_image": "role:admin"
"communitize_image": "role:admin or (role:member and project_id:%(project_id)s)"
EOF

# ------------------------------------------------------------------ daemons
# start_daemon <name> <cmd...>: own session (so stop.sh can signal the whole group), no stdin, output to logs.
start_daemon() {
  local name="$1"; shift
  setsid "$@" </dev/null >>"$logs/$name.stdout.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

keystone_prepare() {
  local m="$logs/keystone-manage.log" conf="$ks_dir/keystone.conf"
  # keys in parallel with db_sync (they do not need the database)
  keystone-manage --config-file "$conf" fernet_setup --keystone-user root --keystone-group root >>"$m" 2>&1 &
  local p1=$!
  keystone-manage --config-file "$conf" credential_setup --keystone-user root --keystone-group root >>"$m" 2>&1 &
  local p2=$!
  keystone-manage --config-file "$conf" db_sync >>"$m" 2>&1 || { echo "keystone-manage db_sync failed" >&2; return 1; }
  # WAL right after db_sync, else concurrent writes fail with "database is locked"
  [ "$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL").fetchone()[0])' \
    "$ks_dir/keystone.sqlite")" = wal ] || { echo "could not switch keystone.sqlite to WAL" >&2; return 1; }
  wait "$p1" || { echo "keystone-manage fernet_setup failed" >&2; return 1; }
  wait "$p2" || { echo "keystone-manage credential_setup failed" >&2; return 1; }
  # uwsgi loads keystone (about 2 s) while bootstrap fills the database; start.sh seeds only after both are done
  start_daemon keystone uwsgi --ini "$ks_dir/uwsgi.ini"
  keystone-manage --config-file "$conf" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-region-id RegionOne --bootstrap-public-url "$KS_URL/v3/" \
    --bootstrap-internal-url "$KS_URL/v3/" --bootstrap-admin-url "$KS_URL/v3/" >>"$m" 2>&1 \
    || { echo "keystone-manage bootstrap failed" >&2; return 1; }
}

glance_prepare() {
  local a="$state/glance-noauth" b="$state/glance-keystone"
  glance-manage --config-file "$a/glance-api.conf" db_sync >>"$logs/glance-manage.log" 2>&1 \
    || { echo "glance-manage db_sync failed" >&2; return 1; }
  # same schema for both: copy instead of a second db_sync
  cp "$a/glance.sqlite" "$b/glance.sqlite"
  start_daemon glance-noauth glance-api --config-file "$a/glance-api.conf"
  start_daemon glance-keystone glance-api --config-file "$b/glance-api.conf"
}

say "preparing keystone and glance"
keystone_prepare & kp=$!
glance_prepare & gp=$!
kr=0; gr=0
wait "$kp" || kr=$?
wait "$gp" || gr=$?
[ "$kr" -eq 0 ] || fail "keystone setup failed (see keystone-manage.log)"
[ "$gr" -eq 0 ] || fail "glance setup failed (see glance-manage.log)"

# wait_http <name> <url> <expected status>: bounded; fails early when the daemon died.
wait_http() {
  local name="$1" url="$2" want="$3" pid code deadline=$((SECONDS + WAIT_SECS))
  pid="$(cat "$run/$name.pid")"
  while :; do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)"
    [ "$code" = "$want" ] && return 0
    kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] \
      || fail "$name (pid $pid) exited before answering on $url"
    [ "$SECONDS" -lt "$deadline" ] || fail "$name did not answer $want on $url within ${WAIT_SECS}s (last: $code)"
    sleep 0.2
  done
}
wait_http keystone "$KS_URL/v3" 200
wait_http glance-noauth "$GA_URL/healthcheck" 200
wait_http glance-keystone "$GB_URL/healthcheck" 200
say "keystone and glance answer"

# ------------------------------------------------------------------ seed
OS_STATE_DIR="$state" OS_JSON="$json" OS_KEYSTONE_URL="$KS_URL" OS_GLANCE_NOAUTH_URL="$GA_URL" \
  OS_GLANCE_KEYSTONE_URL="$GB_URL" OS_ADMIN_PASSWORD="$ADMIN_PASSWORD" OS_DEMO_PASSWORD="$DEMO_PASSWORD" \
  OS_OTHER_PASSWORD="$OTHER_PASSWORD" OS_GLANCE_PASSWORD="$GLANCE_PASSWORD" \
  timeout 120 "$PY" "$here/seed.py" </dev/null >"$logs/seed.log" 2>&1 || seed_rc=$?
cat "$logs/seed.log"
[ "${seed_rc:-0}" -eq 0 ] || fail "seeding failed (exit ${seed_rc}; 124 = timed out)"
[ -s "$json" ] || fail "$json was not written"

# Independent cross-check of one image against sha512sum (seed.py checked every image with hashlib).
read -r file want < <("$PY" -c 'import json,sys; i=json.load(open(sys.argv[1]))["glanceKeystone"]["images"]["public"]; print(i["file"], i["os_hash_value"])' "$json")
[ "$(sha512sum "$file" | cut -d' ' -f1)" = "$want" ] || fail "sha512sum of $file differs from Glance's os_hash_value"

echo "openstack: ready in $(elapsed)s (keystone $KS_URL, glance noauth $GA_URL, glance keystone $GB_URL; $json)"

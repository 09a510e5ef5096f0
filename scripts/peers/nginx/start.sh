#!/usr/bin/env bash
# Starts a real nginx on loopback for the HTTP driver's peer tests and writes $PEERS_DIR/nginx.json.
#
# All state lives under $PEERS_DIR/nginx/ (wiped at every start): nginx.conf, nginx.pid, logs/, tmp/, certs/, www/.
# PEERS_DIR is $IMAGE_SERVICE_PEERS_DIR, else <repo>/.peers.
#
# Ports (loopback only; env overrides, defaults in brackets):
#   IMAGE_SERVICE_NGINX_HTTP_PORT            [18080] plain http, 127.0.0.1 and [::1]
#   IMAGE_SERVICE_NGINX_HTTPS_PORT           [18443] https, certificate signed by the private CA (caFile)
#   IMAGE_SERVICE_NGINX_HTTPS_UNTRUSTED_PORT [18444] https, self-signed certificate (valid names, untrusted issuer)
#   IMAGE_SERVICE_NGINX_HTTPS_WRONG_NAME_PORT [18445] https, CA-signed certificate for DNS:example.invalid only
# If [::1] cannot be bound, nginx runs on 127.0.0.1 only and the *V6 keys are null (a warning is printed).
#
# nginx.json keys:
#   httpUrl            "http://127.0.0.1:18080"
#   httpUrlLocalhost   "http://localhost:18080"  (same server, other origin than httpUrl)
#   httpUrlV6          "http://[::1]:18080" or null
#   httpsUrl           "https://localhost:18443"  (verifies with caFile)
#   httpsUrlIp         "https://127.0.0.1:18443"  (verifies with caFile: the certificate lists IP:127.0.0.1)
#   httpsUrlV6         "https://[::1]:18443" or null (verifies with caFile: IP:::1)
#   httpsUntrustedUrl  "https://localhost:18444"  (self-signed; verification must fail)
#   httpsWrongNameUrl  "https://localhost:18445"  (CA-signed for example.invalid; hostname check must fail)
#   caFile, caPem      the private CA certificate (path, PEM text)
#   untrustedCertFile  the self-signed certificate served on the untrusted port (to trust it explicitly if wanted)
#   docroot            absolute path of www/, served at / ; tests write their files here, served at once
#   privateDir         docroot/private, served at /private/ behind basic auth
#   basicAuth          {"user":"imageuser","password":"p@ss%w0rd!","realm":"image-service"} (password raw, not
#                      URL-encoded; in a URL's userinfo it is p%40ss%25w0rd%21)
#   errorLog, accessLog, pidFile   absolute paths, for debugging
#
# Paths served by the http server and the CA-signed https server (<rest> keeps its raw encoding and query):
#   /<file>                     static files from www/ (ETag, Last-Modified, Accept-Ranges, Range/206/416, HEAD)
#   /healthz                    200 "ok"
#   /private/<file>             basic auth (401 without), files from www/private/
#   /private-redirect/<rest>    no auth; 302 to /private/<rest>
#   /r/301|302|307|308/<rest>   that status to /<rest> (nginx makes Location absolute)
#   /r/relative/<rest>          302 to /<rest> with a relative Location header
#   /r/chain/<n>/<rest>         n redirects (302) in total, then /<rest>; 1 <= n <= 50
#   /loop/a, /loop/b            302 to each other forever
#   /r/other-origin/<rest>      302 to the same server under the other host name (127.0.0.1 <-> localhost),
#                               i.e. another origin: credentials must not follow
#   /to-https/<rest>            (http only) 302 to https://localhost:18443/<rest>
#   /to-http/<rest>             (https only) 302 to http://127.0.0.1:18080/<rest> (a downgrade to refuse)
#   /echo-auth                  200 text/plain, body = the Authorization header received (empty if none)
#   /no-store/<file>            www/ files with Cache-Control: no-store
#   /slow/<file>                www/ files at 1 MB/s;  /crawl/<file> at 16 kB/s (nginx sends the first second's
#                               worth at once: use files well above 1 MB resp. 16 kB to abort mid-body)
#   /no-head/<file>             www/ files; HEAD gets 405, GET works
#   /status/<code>              that status, for 400 401 403 404 410 429 500 502 503 504
#                               (429 and 503 carry Retry-After: 1)
#   /empty-reply                nginx closes the connection without any response
# The alias locations (/no-store/, /slow/, /crawl/, /no-head/) map to all of www/ and do not require auth.
# The untrusted and wrong-name https servers serve www/ at / and /healthz only.
set -Eeuo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../../.." && pwd)
PEERS_DIR=${IMAGE_SERVICE_PEERS_DIR:-$repo_root/.peers}
mkdir -p "$PEERS_DIR"
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
export IMAGE_SERVICE_PEERS_DIR=$PEERS_DIR

HTTP_PORT=${IMAGE_SERVICE_NGINX_HTTP_PORT:-18080}
HTTPS_PORT=${IMAGE_SERVICE_NGINX_HTTPS_PORT:-18443}
UNTRUSTED_PORT=${IMAGE_SERVICE_NGINX_HTTPS_UNTRUSTED_PORT:-18444}
WRONG_NAME_PORT=${IMAGE_SERVICE_NGINX_HTTPS_WRONG_NAME_PORT:-18445}
AUTH_USER=imageuser
AUTH_PASSWORD='p@ss%w0rd!'
AUTH_REALM=image-service
READY_TIMEOUT=${IMAGE_SERVICE_NGINX_READY_TIMEOUT:-15}

dir=$PEERS_DIR/nginx
conf=$dir/nginx.conf
pid_file=$dir/nginx.pid
error_log=$dir/logs/error.log
access_log=$dir/logs/access.log
start_log=$dir/logs/start.log
certs=$dir/certs
www=$dir/www
json=$PEERS_DIR/nginx.json
t0=$EPOCHREALTIME

log() { echo "nginx: $*" >&2; }

fail() {
  trap - ERR
  log "FAILED: $*"
  for f in "$start_log" "$error_log"; do
    if [ -s "$f" ]; then
      log "--- tail of $f ---"
      tail -n 30 "$f" >&2 || true
    fi
  done
  "$script_dir/stop.sh" >&2 || true
  rm -f "$json"
  exit 1
}
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

command -v nginx >/dev/null || fail "nginx is not installed (run scripts/peers/install.sh)"
command -v openssl >/dev/null || fail "openssl is not installed"
command -v curl >/dev/null || fail "curl is not installed"

"$script_dir/stop.sh"
rm -rf "$dir" "$json"
mkdir -p "$dir/logs" "$dir/tmp" "$certs" "$www/private"

# --- certificates ----------------------------------------------------------------------------------------------
openssl_quiet() { openssl "$@" >>"$start_log" 2>&1 || fail "openssl $1 failed"; }
new_key() { openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
sign_with_ca() { # <name> <subjectAltName>
  new_key "$certs/$1.key"
  openssl_quiet req -new -key "$certs/$1.key" -subj "/CN=$1" -out "$certs/$1.csr"
  cat >"$certs/$1.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $2
EOF
  openssl_quiet x509 -req -in "$certs/$1.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$certs/$1.ext" -out "$certs/$1.pem"
}

new_key "$certs/ca.key"
openssl_quiet req -x509 -new -key "$certs/ca.key" -sha256 -days 3650 -subj "/CN=image-service test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$certs/ca.pem"
sign_with_ca server "DNS:localhost,IP:127.0.0.1,IP:::1"
sign_with_ca wrong-name "DNS:example.invalid"
new_key "$certs/untrusted.key"
openssl_quiet req -x509 -new -key "$certs/untrusted.key" -sha256 -days 365 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" -addext "extendedKeyUsage=serverAuth" \
  -out "$certs/untrusted.pem"

# --- basic auth ------------------------------------------------------------------------------------------------
hash=$(printf '%s' "$AUTH_PASSWORD" | openssl passwd -apr1 -stdin) || fail "openssl passwd failed"
printf '%s:%s\n' "$AUTH_USER" "$hash" >"$dir/htpasswd"

printf 'ok\n' >"$www/index.txt"
printf 'private ok\n' >"$www/private/index.txt"

# --- config ----------------------------------------------------------------------------------------------------
# $1: "yes" to listen on [::1] too.
write_conf() {
  local v6=$1 listen_http listen_https listen_untrusted listen_wrong user_line="" chain_map="" i
  listen_http="listen 127.0.0.1:$HTTP_PORT;"
  listen_https="listen 127.0.0.1:$HTTPS_PORT ssl;"
  listen_untrusted="listen 127.0.0.1:$UNTRUSTED_PORT ssl;"
  listen_wrong="listen 127.0.0.1:$WRONG_NAME_PORT ssl;"
  if [ "$v6" = yes ]; then
    listen_http+=" listen [::1]:$HTTP_PORT;"
    listen_https+=" listen [::1]:$HTTPS_PORT ssl;"
    listen_untrusted+=" listen [::1]:$UNTRUSTED_PORT ssl;"
    listen_wrong+=" listen [::1]:$WRONG_NAME_PORT ssl;"
  fi
  [ "$(id -u)" = 0 ] && user_line="user root;"
  for i in $(seq 2 50); do chain_map+="    $i $((i - 1));"$'\n'; done

  # Locations shared by the http server and the CA-signed https server. Redirect targets take <rest> from the raw
  # $request_uri (still percent-encoded, with its query), not from the decoded $uri.
  local redirects="" code
  for code in 301 302 307 308; do
    redirects+="
    location /r/$code/ {
      if (\$request_uri ~ \"^/r/$code/(.*)\$\") { return $code /\$1; }
      return 404;
    }"
  done
  cat >"$dir/common.conf" <<EOF
    root "$www";

    location / { }
    location = /healthz { default_type text/plain; return 200 "ok\n"; }

    location /private/ {
      auth_basic "$AUTH_REALM";
      auth_basic_user_file "$dir/htpasswd";
    }
    location /private-redirect/ {
      if (\$request_uri ~ "^/private-redirect/(.*)\$") { return 302 /private/\$1; }
      return 404;
    }
$redirects
    location /r/relative/ {
      absolute_redirect off;
      if (\$request_uri ~ "^/r/relative/(.*)\$") { return 302 /\$1; }
      return 404;
    }
    location /r/chain/ {
      set \$chain_hops "";
      set \$chain_rest "";
      if (\$request_uri ~ "^/r/chain/(\d+)/(.*)\$") { set \$chain_hops \$1; set \$chain_rest \$2; }
      if (\$chain_hops = "1") { return 302 /\$chain_rest; }
      if (\$chain_next = "") { return 404; }
      return 302 /r/chain/\$chain_next/\$chain_rest;
    }
    location = /loop/a { return 302 /loop/b; }
    location = /loop/b { return 302 /loop/a; }

    location /echo-auth { default_type text/plain; return 200 "\$http_authorization"; }

    location /no-store/ { alias "$www/"; add_header Cache-Control "no-store" always; }
    location /slow/ { alias "$www/"; limit_rate 1m; }
    location /crawl/ { alias "$www/"; limit_rate 16k; }
    location /no-head/ {
      alias "$www/";
      if (\$request_method = HEAD) { return 405; }
    }

    location = /status/400 { return 400; }
    location = /status/401 { return 401; }
    location = /status/403 { return 403; }
    location = /status/404 { return 404; }
    location = /status/410 { return 410; }
    location = /status/429 { add_header Retry-After 1 always; return 429; }
    location = /status/500 { return 500; }
    location = /status/502 { return 502; }
    location = /status/503 { add_header Retry-After 1 always; return 503; }
    location = /status/504 { return 504; }
    location = /empty-reply { return 444; }
EOF

  cat >"$conf" <<EOF
# Generated by scripts/peers/nginx/start.sh; rewritten at every start.
$user_line
worker_processes 2;
pid "$pid_file";
lock_file "$dir/nginx.lock";
error_log "$error_log" notice;

events { worker_connections 1024; }

http {
  log_format peers '\$remote_addr "\$request" \$status \$body_bytes_sent range="\$http_range" host="\$host"';
  access_log "$access_log" peers;
  client_body_temp_path "$dir/tmp/client_body";
  proxy_temp_path "$dir/tmp/proxy";
  fastcgi_temp_path "$dir/tmp/fastcgi";
  uwsgi_temp_path "$dir/tmp/uwsgi";
  scgi_temp_path "$dir/tmp/scgi";

  types { text/plain txt; text/html html; application/json json; }
  default_type application/octet-stream;
  charset off;
  gzip off;
  server_tokens off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 10000;
  open_file_cache off;
  etag on;

  ssl_protocols TLSv1.2 TLSv1.3;

  map \$host \$other_host { localhost 127.0.0.1; default localhost; }
  map \$chain_hops \$chain_next {
    default "";
$chain_map  }

  server {
    $listen_http
    server_name localhost 127.0.0.1;
    include "$dir/common.conf";
    location /r/other-origin/ {
      if (\$request_uri ~ "^/r/other-origin/(.*)\$") { return 302 http://\$other_host:$HTTP_PORT/\$1; }
      return 404;
    }
    location /to-https/ {
      if (\$request_uri ~ "^/to-https/(.*)\$") { return 302 https://localhost:$HTTPS_PORT/\$1; }
      return 404;
    }
  }

  server {
    $listen_https
    server_name localhost 127.0.0.1;
    ssl_certificate "$certs/server.pem";
    ssl_certificate_key "$certs/server.key";
    include "$dir/common.conf";
    location /r/other-origin/ {
      if (\$request_uri ~ "^/r/other-origin/(.*)\$") { return 302 https://\$other_host:$HTTPS_PORT/\$1; }
      return 404;
    }
    location /to-http/ {
      if (\$request_uri ~ "^/to-http/(.*)\$") { return 302 http://127.0.0.1:$HTTP_PORT/\$1; }
      return 404;
    }
  }

  server {
    $listen_untrusted
    ssl_certificate "$certs/untrusted.pem";
    ssl_certificate_key "$certs/untrusted.key";
    root "$www";
    location / { }
    location = /healthz { default_type text/plain; return 200 "ok\n"; }
  }

  server {
    $listen_wrong
    ssl_certificate "$certs/wrong-name.pem";
    ssl_certificate_key "$certs/wrong-name.key";
    root "$www";
    location / { }
    location = /healthz { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
}

run_nginx() { # returns nginx's exit status; its output goes to start.log
  nginx -e "$error_log" -c "$conf" -p "$dir/" >>"$start_log" 2>&1
}

v6=no
if [ -r /proc/net/if_inet6 ] && grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6; then v6=yes; fi
if [ "$v6" = no ]; then log "WARNING: no IPv6 loopback (::1); serving on 127.0.0.1 only"; fi

write_conf "$v6"
if ! run_nginx; then
  # Retry without [::1] only when binding [::1] failed for lack of IPv6 (not when a port is taken).
  if [ "$v6" = yes ] && grep -Eq 'bind\(\) to \[::1\]:[0-9]+ failed \((97|99):' "$start_log" "$error_log" 2>/dev/null; then
    log "WARNING: cannot bind [::1]; serving on 127.0.0.1 only"
    v6=no
    write_conf no
    run_nginx || fail "nginx did not start"
  else
    busy=$(grep -ho 'bind() to [^ ]* failed (98: Address already in use)' "$start_log" | sort -u | sed 's/^bind() to //; s/ failed.*//' | tr '\n' ' ') || true
    [ -z "$busy" ] || fail "port already in use: $busy(set IMAGE_SERVICE_NGINX_*_PORT to move)"
    fail "nginx did not start"
  fi
fi

# --- wait until every port answers -----------------------------------------------------------------------------
probe() { curl -fsS -o /dev/null --max-time 2 "$@" 2>/dev/null; }
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
  if [ -s "$pid_file" ] &&
    probe "http://127.0.0.1:$HTTP_PORT/healthz" &&
    { [ "$v6" = no ] || probe -g "http://[::1]:$HTTP_PORT/healthz"; } &&
    probe --cacert "$certs/ca.pem" "https://localhost:$HTTPS_PORT/healthz" &&
    probe -k "https://localhost:$UNTRUSTED_PORT/healthz" &&
    probe -k "https://localhost:$WRONG_NAME_PORT/healthz"; then
    break
  fi
  [ "$SECONDS" -lt "$deadline" ] || fail "nginx did not answer on all ports within ${READY_TIMEOUT}s"
  sleep 0.1
done

# --- nginx.json ------------------------------------------------------------------------------------------------
json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
if [ "$v6" = yes ]; then
  http_v6=$(json_str "http://[::1]:$HTTP_PORT"); https_v6=$(json_str "https://[::1]:$HTTPS_PORT")
else
  http_v6=null; https_v6=null
fi
cat >"$json.tmp" <<EOF
{
  "httpUrl": $(json_str "http://127.0.0.1:$HTTP_PORT"),
  "httpUrlLocalhost": $(json_str "http://localhost:$HTTP_PORT"),
  "httpUrlV6": $http_v6,
  "httpsUrl": $(json_str "https://localhost:$HTTPS_PORT"),
  "httpsUrlIp": $(json_str "https://127.0.0.1:$HTTPS_PORT"),
  "httpsUrlV6": $https_v6,
  "httpsUntrustedUrl": $(json_str "https://localhost:$UNTRUSTED_PORT"),
  "httpsWrongNameUrl": $(json_str "https://localhost:$WRONG_NAME_PORT"),
  "caFile": $(json_str "$certs/ca.pem"),
  "caPem": $(json_str "$(cat "$certs/ca.pem")"$'\n'),
  "untrustedCertFile": $(json_str "$certs/untrusted.pem"),
  "docroot": $(json_str "$www"),
  "privateDir": $(json_str "$www/private"),
  "basicAuth": {"user": $(json_str "$AUTH_USER"), "password": $(json_str "$AUTH_PASSWORD"), "realm": $(json_str "$AUTH_REALM")},
  "errorLog": $(json_str "$error_log"),
  "accessLog": $(json_str "$access_log"),
  "pidFile": $(json_str "$pid_file")
}
EOF
mv "$json.tmp" "$json"

elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "nginx: ready in ${elapsed}s (pid $(cat "$pid_file"), $json)"

#!/usr/bin/env bash
# Manual check of a running OpenStack peer (after start.sh) with curl only: tokens, catalog, the access table of the
# keystone-backed Glance as demo, downloads, Range, 401 + WWW-Authenticate, revocation, application credentials.
# Read-only except for the token it revokes. Exits 1 on the first failed expectation. Not needed by the tests.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../../.." && pwd)"
PEERS_DIR="${IMAGE_SERVICE_PEERS_DIR:-$repo_root/.peers}"
json="$PEERS_DIR/openstack.json"
[ -s "$json" ] || { echo "verify: $json missing: run start.sh first" >&2; exit 1; }
j() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d if not isinstance(d,(dict,list)) else json.dumps(d))' "$json" "$1"; }

KS="$(j keystone.authUrl)"
GB="$(j glanceKeystone.url)"
GA="$(j glanceNoAuth.url)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bad=0
check() { # check <what> <got> <want>
  if [ "$2" = "$3" ]; then printf '  ok   %-58s %s\n' "$1" "$2"; else printf '  FAIL %-58s got %s, want %s\n' "$1" "$2" "$3"; bad=1; fi
}

token() { # token <user>: project-scoped password token; response body in $tmp/token-<user>.json
  local u="$1" pw project
  pw="$(j "keystone.users.$u.password")"; project="$(j "keystone.users.$u.project")"
  curl -sf -D "$tmp/h" -o "$tmp/token-$u.json" -H 'Content-Type: application/json' -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$u\",\"domain\":{\"id\":\"default\"},\"password\":\"$pw\"}}},\"scope\":{\"project\":{\"name\":\"$project\",\"domain\":{\"id\":\"default\"}}}}}" "$KS/auth/tokens"
  awk 'tolower($1)=="x-subject-token:"{print $2}' "$tmp/h" | tr -d '\r'
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

echo "keystone"
DEMO="$(token demo)"; OTHER="$(token other)"; ADMIN="$(token admin)"
check "demo token issued" "$([ -n "$DEMO" ] && echo yes)" yes
check "catalog of demo's token lists image -> $GB" \
  "$(/usr/bin/python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["token"]; print(sorted({e["interface"] for s in t["catalog"] if s["type"]=="image" for e in s["endpoints"] if e["url"].rstrip("/")==sys.argv[2]}))' "$tmp/token-demo.json" "$GB")" \
  "['internal', 'public']"
AC="$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"auth\":{\"identity\":{\"methods\":[\"application_credential\"],\"application_credential\":{\"id\":\"$(j keystone.applicationCredential.id)\",\"secret\":\"$(j keystone.applicationCredential.secret)\"}}}}" "$KS/auth/tokens" | awk 'tolower($1)=="x-subject-token:"{print $2}' | tr -d '\r')"
check "application credential token issued" "$([ -n "$AC" ] && echo yes)" yes

echo "glance keystone ($GB): GET image / GET file, per token"
printf '  %-17s %-11s %-12s %-9s %-9s %-9s %-9s %s\n' image visibility status demo demo-file other admin appcred
for name in public private_other shared_member shared_pending shared_nonmember private_demo community queued deactivated custom_props empty; do
  id="$(j "glanceKeystone.images.$name.id")"
  printf '  %-17s %-11s %-12s %-9s %-9s %-9s %-9s %s\n' "$name" "$(j "glanceKeystone.images.$name.visibility")" \
    "$(j "glanceKeystone.images.$name.status")" \
    "$(code -H "X-Auth-Token: $DEMO" "$GB/v2/images/$id")" "$(code -H "X-Auth-Token: $DEMO" "$GB/v2/images/$id/file")" \
    "$(code -H "X-Auth-Token: $OTHER" "$GB/v2/images/$id")" "$(code -H "X-Auth-Token: $ADMIN" "$GB/v2/images/$id")" \
    "$(code -H "X-Auth-Token: $AC" "$GB/v2/images/$id")"
done
echo "  demo's GET /v2/images lists: $(curl -s -H "X-Auth-Token: $DEMO" "$GB/v2/images" | /usr/bin/python3 -c 'import json,sys; print(sorted(i["name"] for i in json.load(sys.stdin)["images"]))')"
echo "  demo's GET /v2/images?member_status=all lists: $(curl -s -H "X-Auth-Token: $DEMO" "$GB/v2/images?member_status=all" | /usr/bin/python3 -c 'import json,sys; print(sorted(i["name"] for i in json.load(sys.stdin)["images"]))')"

echo "glance keystone: downloads"
pub="$(j glanceKeystone.images.public.id)"
curl -sf -H "X-Auth-Token: $DEMO" -o "$tmp/pub" "$GB/v2/images/$pub/file"
check "public file bytes == $(basename "$(j glanceKeystone.images.public.file)")" "$(cmp -s "$tmp/pub" "$(j glanceKeystone.images.public.file)" && echo same)" same
check "Range bytes=10- -> 206" "$(code -H "X-Auth-Token: $DEMO" -H 'Range: bytes=10-' "$GB/v2/images/$pub/file")" 206
curl -s -H "X-Auth-Token: $DEMO" -H 'Range: bytes=10-' -o "$tmp/range" "$GB/v2/images/$pub/file"
check "Range body == bytes 10.. of the payload" "$(tail -c +11 "$(j glanceKeystone.images.public.file)" | cmp -s - "$tmp/range" && echo same)" same
check "queued file -> 204" "$(code -H "X-Auth-Token: $DEMO" "$GB/v2/images/$(j glanceKeystone.images.queued.id)/file")" 204
check "no token -> 401" "$(code "$GB/v2/images/$pub")" 401
check "no token -> WWW-Authenticate" "$(curl -s -D - -o /dev/null "$GB/v2/images/$pub" | awk -F': ' 'tolower($1)=="www-authenticate"{print $2}' | tr -d '\r')" "Keystone uri=\"$(j keystone.url)\""
check "bogus token -> 401" "$(code -H 'X-Auth-Token: gAAAAAbogus' "$GB/v2/images/$pub")" 401

echo "glance noauth ($GA)"
check "public GET (no token) -> 200" "$(code "$GA/v2/images/$(j glanceNoAuth.images.public.id)")" 200
curl -sf -o "$tmp/apub" "$GA/v2/images/$(j glanceNoAuth.images.public.id)/file"
check "public file bytes" "$(cmp -s "$tmp/apub" "$(j glanceNoAuth.images.public.file)" && echo same)" same
check "queued file -> 204" "$(code "$GA/v2/images/$(j glanceNoAuth.images.queued.id)/file")" 204
# the unauthenticated context is an admin context, and admins may download deactivated images
check "deactivated file -> 200 (noauth context is admin)" "$(code "$GA/v2/images/$(j glanceNoAuth.images.deactivated.id)/file")" 200

echo "revocation"
T="$(token demo)"
check "fresh demo token on glance -> 200" "$(code -H "X-Auth-Token: $T" "$GB/v2/images/$pub")" 200
check "DELETE /v3/auth/tokens -> 204" "$(code -X DELETE -H "X-Auth-Token: $ADMIN" -H "X-Subject-Token: $T" "$KS/auth/tokens")" 204
check "revoked token on glance -> 401 (at once)" "$(code -H "X-Auth-Token: $T" "$GB/v2/images/$pub")" 401
check "revoked token on keystone -> 404" "$(code -H "X-Auth-Token: $ADMIN" -H "X-Subject-Token: $T" "$KS/auth/tokens")" 404
check "other demo tokens unaffected -> 200" "$(code -H "X-Auth-Token: $DEMO" "$GB/v2/images/$pub")" 200

[ "$bad" = 0 ] && echo "verify: all ok" || { echo "verify: FAILED"; exit 1; }

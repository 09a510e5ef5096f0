#!/usr/bin/python3
"""Seeds the OpenStack peer through the REST APIs (Keystone v3, Glance v2) and writes $PEERS_DIR/openstack.json.

Called by start.sh once Keystone and both glance-api are answering. Standard library only (no openstack CLI: it is
about 10x slower). Every request has a timeout; any unexpected status aborts with the response body.

Environment (set by start.sh): OS_STATE_DIR, OS_JSON, OS_KEYSTONE_URL, OS_GLANCE_NOAUTH_URL, OS_GLANCE_KEYSTONE_URL,
OS_ADMIN_PASSWORD, OS_DEMO_PASSWORD, OS_OTHER_PASSWORD, OS_GLANCE_PASSWORD.
"""
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

STATE = os.environ["OS_STATE_DIR"]
JSON_OUT = os.environ["OS_JSON"]
KS = os.environ["OS_KEYSTONE_URL"].rstrip("/")  # http://127.0.0.1:5000
GA = os.environ["OS_GLANCE_NOAUTH_URL"].rstrip("/")
GB = os.environ["OS_GLANCE_KEYSTONE_URL"].rstrip("/")
REGION = "RegionOne"
DOMAIN_ID = "default"
IMAGES_DIR = os.path.join(STATE, "images")
TIMEOUT = 60

PATCH_CT = "application/openstack-images-v2.1-json-patch"


class Failure(Exception):
    pass


T0 = time.monotonic()


def log(msg):
    print(f"openstack: seed: [{time.monotonic() - T0:.1f}s] {msg}", flush=True)


def call(method, url, token=None, body=None, expect=(200,), content_type=None, raw=None):
    """Returns (status, headers, parsed JSON or None). Raises Failure on an unexpected status."""
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["X-Auth-Token"] = token
    if raw is not None:
        data = raw
        headers["Content-Type"] = content_type or "application/octet-stream"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = content_type or "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, hdrs, payload = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, payload = e.code, e.headers, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise Failure(f"{method} {url}: {e}") from e
    if status not in expect:
        text = payload[:800].decode("utf-8", "replace")
        raise Failure(f"{method} {url}: HTTP {status} (expected {'/'.join(map(str, expect))}): {text}")
    parsed = None
    if payload and (hdrs.get("Content-Type") or "").startswith("application/json"):
        parsed = json.loads(payload)
    return status, hdrs, parsed


# ---------------------------------------------------------------- Keystone

def password_token(user, password, project):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {
            "user": {"name": user, "domain": {"id": DOMAIN_ID}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": DOMAIN_ID}}}}}
    _, hdrs, data = call("POST", f"{KS}/v3/auth/tokens", body=body, expect=(201,))
    return hdrs["X-Subject-Token"], data["token"]


def seed_keystone():
    admin_pw = os.environ["OS_ADMIN_PASSWORD"]
    adm, adm_body = password_token("admin", admin_pw, "admin")
    ids = {"admin_project": adm_body["project"]["id"], "admin_user": adm_body["user"]["id"]}

    # Roles: bootstrap creates admin, member, reader (admin implies member implies reader); create any missing.
    _, _, data = call("GET", f"{KS}/v3/roles", adm)
    roles = {r["name"]: r["id"] for r in data["roles"]}
    for name in ("admin", "member", "reader"):
        if name not in roles:
            _, _, d = call("POST", f"{KS}/v3/roles", adm, {"role": {"name": name}}, expect=(201,))
            roles[name] = d["role"]["id"]

    # Domain "Default" (id "default") comes from bootstrap; make sure.
    call("GET", f"{KS}/v3/domains/{DOMAIN_ID}", adm)

    projects = {"admin": ids["admin_project"]}
    for name in ("service", "demo", "other"):
        _, _, d = call("POST", f"{KS}/v3/projects", adm, {"project": {
            "name": name, "domain_id": DOMAIN_ID, "description": f"image-service peer: {name}"}}, expect=(201,))
        projects[name] = d["project"]["id"]

    users = {"admin": {"name": "admin", "password": admin_pw, "project": "admin",
                       "projectId": ids["admin_project"], "userId": ids["admin_user"], "domain": "Default",
                       "roles": ["admin"]}}
    specs = [("demo", os.environ["OS_DEMO_PASSWORD"], "demo", "member"),
             ("other", os.environ["OS_OTHER_PASSWORD"], "other", "member"),
             ("glance", os.environ["OS_GLANCE_PASSWORD"], "service", "admin")]
    for name, pw, project, role in specs:
        _, _, d = call("POST", f"{KS}/v3/users", adm, {"user": {
            "name": name, "password": pw, "domain_id": DOMAIN_ID, "default_project_id": projects[project],
            "enabled": True}}, expect=(201,))
        uid = d["user"]["id"]
        call("PUT", f"{KS}/v3/projects/{projects[project]}/users/{uid}/roles/{roles[role]}", adm, expect=(204,))
        users[name] = {"name": name, "password": pw, "project": project, "projectId": projects[project],
                       "userId": uid, "domain": "Default", "roles": [role]}

    # The image service in the catalog, pointing at the keystone-backed Glance.
    _, _, d = call("POST", f"{KS}/v3/services", adm, {"service": {
        "type": "image", "name": "glance", "description": "image-service peer: Glance (keystone auth)",
        "enabled": True}}, expect=(201,))
    service_id = d["service"]["id"]
    for iface in ("public", "internal"):
        call("POST", f"{KS}/v3/endpoints", adm, {"endpoint": {
            "service_id": service_id, "interface": iface, "region_id": REGION, "url": GB, "enabled": True}},
            expect=(201,))

    # Tokens of the seeded users (also proves their passwords and role assignments).
    tokens = {"admin": adm}
    for name in ("demo", "other"):
        tok, body = password_token(name, users[name]["password"], name)
        cat = [s for s in body.get("catalog", []) if s["type"] == "image"]
        if not cat or not any(e["url"].rstrip("/") == GB for e in cat[0]["endpoints"]):
            raise Failure(f"token catalog of {name} lacks the image endpoint {GB}: {cat}")
        tokens[name] = tok
    password_token("glance", users["glance"]["password"], "service")

    # Application credential of demo (created with demo's own project-scoped token; inherits its roles).
    _, _, d = call("POST", f"{KS}/v3/users/{users['demo']['userId']}/application_credentials", tokens["demo"],
                   {"application_credential": {"name": "image-service-tests",
                                               "description": "image-service peer tests"}}, expect=(201,))
    appcred = {"id": d["application_credential"]["id"], "secret": d["application_credential"]["secret"],
               "name": "image-service-tests", "user": "demo", "userId": users["demo"]["userId"],
               "projectId": projects["demo"]}
    call("POST", f"{KS}/v3/auth/tokens", body={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": appcred["id"], "secret": appcred["secret"]}}}}, expect=(201,))

    PROJECT_NAMES.update({v: k for k, v in projects.items()})
    log(f"keystone seeded (projects {', '.join(sorted(projects))}; users {', '.join(sorted(users))})")
    return {
        "url": KS,
        "authUrl": f"{KS}/v3",
        "region": REGION,
        "domain": {"id": DOMAIN_ID, "name": "Default"},
        "adminPassword": admin_pw,
        "projects": projects,
        "roles": roles,
        "users": users,
        "applicationCredential": appcred,
        "imageService": {"serviceId": service_id, "type": "image", "publicUrl": GB, "internalUrl": GB},
    }, tokens


# ---------------------------------------------------------------- Glance

def payload(name, size):
    path = os.path.join(IMAGES_DIR, f"{name}.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return path


def make_image(glance, token, name, file_name=None, size=None, visibility=None, props=None,
               deactivate=False):
    """POST /v2/images, PUT its file (when size is given), optionally deactivate. Returns (id, file path)."""
    body = {"name": name, "disk_format": "raw", "container_format": "bare"}
    if visibility:
        body["visibility"] = visibility
    body.update(props or {})
    _, _, d = call("POST", f"{glance}/v2/images", token, body, expect=(201,))
    image_id = d["id"]
    path = None
    if size is not None:
        path = payload(file_name, size)
        with open(path, "rb") as f:
            data = f.read()
        call("PUT", f"{glance}/v2/images/{image_id}/file", token, raw=data,
             content_type="application/octet-stream", expect=(204,))
    if deactivate:
        call("POST", f"{glance}/v2/images/{image_id}/actions/deactivate", token, expect=(204,))
    return image_id, path


PROJECT_NAMES = {}  # project id -> name, filled by seed_keystone


def describe(glance, token, image_id, path, extra=None):
    """The fixture's record for the JSON, read back from Glance (not computed locally), then cross-checked."""
    _, _, img = call("GET", f"{glance}/v2/images/{image_id}", token)
    std = {"id", "name", "status", "visibility", "owner", "size", "virtual_size", "checksum", "os_hash_algo",
           "os_hash_value", "disk_format", "container_format", "min_disk", "min_ram", "protected", "os_hidden",
           "tags", "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations", "stores"}
    rec = {k: img.get(k) for k in ("id", "name", "status", "visibility", "owner", "size", "checksum",
                                   "os_hash_algo", "os_hash_value", "disk_format", "container_format")}
    rec["ownerName"] = PROJECT_NAMES.get(img.get("owner"))
    rec["properties"] = {k: v for k, v in img.items() if k not in std}
    if path:
        rec["file"] = path
        with open(path, "rb") as f:
            data = f.read()
        if img.get("size") != len(data):
            raise Failure(f"{glance} image {img['name']}: size {img.get('size')} != {len(data)} bytes uploaded")
        if img.get("checksum") != hashlib.md5(data).hexdigest():
            raise Failure(f"{glance} image {img['name']}: checksum mismatch")
        if img.get("os_hash_algo") != "sha512" or img.get("os_hash_value") != hashlib.sha512(data).hexdigest():
            raise Failure(f"{glance} image {img['name']}: os_hash_value mismatch")
    if extra:
        rec.update(extra)
    return rec


def seed_glance_noauth():
    images = {}
    specs = [  # name, size, visibility, props, deactivate
        ("public", 3 * 1024 * 1024 + 1234, "public", {"hw_architecture": "x86_64", "build": "42",
                                                      "os_distro": "debian"}, False),
        ("queued", None, "public", {}, False),
        ("deactivated", 200 * 1024 + 17, "public", {}, True),
    ]
    for name, size, vis, props, deact in specs:
        iid, path = make_image(GA, None, name, f"noauth-{name}", size, vis, props, deact)
        images[name] = describe(GA, None, iid, path)
    log(f"glance noauth seeded ({', '.join(images)})")
    return {"url": GA, "auth": "none", "images": images}


def seed_glance_keystone(ks, tokens):
    demo_pid = ks["projects"]["demo"]
    adm, demo, other = tokens["admin"], tokens["demo"], tokens["other"]
    ids, paths, extras = {}, {}, {}

    def mk(key, token, size, visibility, props=None, deactivate=False):
        ids[key], paths[key] = make_image(GB, token, key, f"keystone-{key}", size, visibility, props, deactivate)

    mk("public", adm, 3 * 1024 * 1024 + 4321, "public", {"hw_architecture": "x86_64", "build": "42"})
    mk("private_other", other, 100 * 1024 + 1, "private")
    mk("shared_member", other, 100 * 1024 + 2, "shared")
    mk("shared_pending", other, 100 * 1024 + 3, "shared")
    mk("shared_nonmember", other, 100 * 1024 + 4, "shared")
    mk("private_demo", demo, 100 * 1024 + 5, "private")
    mk("community", other, 100 * 1024 + 6, "community")
    mk("queued", demo, None, "private")
    mk("deactivated", demo, 100 * 1024 + 7, "private", deactivate=True)
    mk("custom_props", demo, 100 * 1024 + 8, "private",
       {"hw_architecture": "aarch64", "build": "7", "os_distro": "cirros", "os_version": "0.6.2",
        "image_service_fixture": "custom_props"})
    mk("empty", demo, 0, "private")

    # Members: demo's project on shared_member (then accepted by demo itself) and on shared_pending (left pending).
    for key in ("shared_member", "shared_pending"):
        call("POST", f"{GB}/v2/images/{ids[key]}/members", other, {"member": demo_pid}, expect=(200,))
    call("PUT", f"{GB}/v2/images/{ids['shared_member']}/members/{demo_pid}", demo, {"status": "accepted"},
         expect=(200,))
    for key, status in (("shared_member", "accepted"), ("shared_pending", "pending")):
        _, _, d = call("GET", f"{GB}/v2/images/{ids[key]}/members/{demo_pid}", other)
        if d["status"] != status:
            raise Failure(f"member of {key}: status {d['status']} != {status}")
        extras[key] = {"members": {demo_pid: status}}
    extras["shared_nonmember"] = {"members": {}}

    images = {k: describe(GB, adm, ids[k], paths[k], extras.get(k)) for k in ids}

    # Sanity: the access rules the tests rely on.
    call("GET", f"{GB}/v2/images", None, expect=(401,))
    call("GET", f"{GB}/v2/images/{ids['public']}", demo)
    call("GET", f"{GB}/v2/images/{ids['shared_member']}", demo)
    call("GET", f"{GB}/v2/images/{ids['private_other']}", demo, expect=(404,))
    log(f"glance keystone seeded ({', '.join(images)})")
    return {"url": GB, "auth": "keystone", "images": images}


def main():
    t0 = time.monotonic()
    os.makedirs(IMAGES_DIR, exist_ok=True)
    ks, tokens = seed_keystone()
    ga = seed_glance_noauth()
    gb = seed_glance_keystone(ks, tokens)
    out = {
        "keystone": ks,
        "glanceNoAuth": ga,
        "glanceKeystone": gb,
        "imagesDir": IMAGES_DIR,
        "logsDir": os.path.join(STATE, "logs"),
        "notes": "Payload files are images/noauth-<name>.bin (Glance A) and images/keystone-<name>.bin (Glance B); "
                 "each image's 'file' is the absolute path. size/checksum/os_hash_* are read back from Glance.",
    }
    tmp = JSON_OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    os.replace(tmp, JSON_OUT)
    log(f"wrote {JSON_OUT} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"openstack: seed failed: {e}", file=sys.stderr, flush=True)
        sys.exit(1)

#!/usr/bin/env bash
# Installs the Debian packages the real peers need; quick when they are already there.
set -euo pipefail
packages=(nginx radosgw ceph-mon ceph-osd glance-api keystone uwsgi uwsgi-plugin-python3 curl openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "peers: all Debian packages present"
  exit 0
fi
echo "peers: installing ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

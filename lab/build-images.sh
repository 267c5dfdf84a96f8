#!/usr/bin/env bash
# Build the lab's base images from Debian packages, without any registry:
#   bundle-lab/debian-base    debootstrap minbase + python3 (the FROM of application images)
#   bundle-lab/systemd-host   systemd as PID 1, python3-apt, sshd (every lab and Molecule host)
#   lab/images/python-base.tar  the base as an archive, loaded into app hosts (air-gapped style)
# Each image carries its recipe hash as a label; a build is skipped when it is unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[build-images] %s\n' "$*" >&2; }

BASE_IMAGE=${LAB_BASE_IMAGE:-bundle-lab/debian-base}
HOST_IMAGE=${LAB_HOST_IMAGE:-bundle-lab/systemd-host}
SUITE=bookworm
ARCHIVE="$here/images/debian-base.tar"

# The mirror comes from this machine's apt sources; never hard-coded.
mirror() {
  local m
  m=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$m" ] || m=$(grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                      | grep -v security | awk '{for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | head -1 || true)
  [ -n "$m" ] || { log "no Debian mirror found in /etc/apt/sources*"; exit 1; }
  printf '%s' "$m"
}

label_of() { docker image inspect -f '{{ index .Config.Labels "lab.recipe" }}' "$1" 2>/dev/null || true; }

MIRROR=$(mirror)
base_recipe=$( { echo "$SUITE $MIRROR minbase python3,ca-certificates"; sed -n '/^build_base()/,/^}/p' "$0"; } | sha256sum | cut -c1-16)

build_base() {
  command -v debootstrap >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  local rootfs
  rootfs=$(mktemp -d /var/tmp/lab-rootfs.XXXXXX)
  log "debootstrap $SUITE from $MIRROR (about 45 s)"
  debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$rootfs" "$MIRROR" >/var/log/lab-debootstrap.log 2>&1 \
    || { log "debootstrap failed, see /var/log/lab-debootstrap.log"; rm -rf "$rootfs"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change "LABEL lab.recipe=$base_recipe" --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE:latest" >/dev/null
  rm -rf "$rootfs"
}

if [ "$(label_of "$BASE_IMAGE:latest")" != "$base_recipe" ]; then
  build_base
  rm -f "$ARCHIVE"
else
  log "$BASE_IMAGE up to date ($base_recipe)"
fi
docker tag "$BASE_IMAGE:latest" "$BASE_IMAGE:$base_recipe"

if [ ! -s "$ARCHIVE" ]; then
  docker save "$BASE_IMAGE:$base_recipe" -o "$ARCHIVE.tmp" && mv "$ARCHIVE.tmp" "$ARCHIVE"
  log "saved $ARCHIVE"
fi

host_recipe=$( { echo "$base_recipe"; cat "$here/images/systemd-host/Dockerfile"; } | sha256sum | cut -c1-16)
if [ "$(label_of "$HOST_IMAGE:lab")" != "$host_recipe" ]; then
  log "building $HOST_IMAGE (about 20 s)"
  docker build -q --build-arg "BASE=$BASE_IMAGE:$base_recipe" --label "lab.recipe=$host_recipe" \
    -t "$HOST_IMAGE:lab" "$here/images/systemd-host" >/dev/null
else
  log "$HOST_IMAGE up to date ($host_recipe)"
fi

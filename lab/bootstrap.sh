#!/usr/bin/env bash
# Everything `make up` and `make test` need on a fresh Debian machine, idempotent and quick
# the second time: the pinned Python toolchain in .venv, the collections check, a running
# Docker engine and the lab base images.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# 0. host tools: debootstrap (base images), rsync (unit tests of the NFS snapshot module)
missing=$(for t in debootstrap rsync; do command -v "$t" >/dev/null || echo "$t"; done)
if [ -n "$missing" ]; then
  log "installing $(echo $missing)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# 1. virtualenv with the pinned toolchain, reinstalled only when the requirement files change
stamp=.venv/.requirements.sha256
want=$(cat requirements-dev.txt apps/docshare/requirements.txt apps/notes/requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the Python toolchain into .venv (about 40 s)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c 'import ansible, molecule, testinfra, ansiblelint' # fails loudly if pip did not finish
  echo "$want" > "$stamp"
fi

# 2. collections: must already be satisfied by the pinned ansible package (no Galaxy here)
.venv/bin/ansible-galaxy collection install -r requirements.yml --offline >/dev/null \
  || { log "requirements.yml is not satisfied by the installed collections"; exit 1; }

# 3. Docker engine, 4. lab images
"$root/lab/ensure-docker.sh"
"$root/lab/build-images.sh"

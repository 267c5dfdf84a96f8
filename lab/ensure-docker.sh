#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io only if none answers,
# start dockerd only if it is not running, then wait until it answers. Idempotent.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

# Every lab host runs its own systemd, and each one takes inotify instances: with the default limit
# (128 per user, all containers count as root) the tenth or so host hangs at boot ("Failed to create
# inotify object: Too many open files"). Raise it when it is lower.
for knob in fs.inotify.max_user_instances:2048 fs.inotify.max_user_watches:1048576; do
  name=${knob%%:*}; want=${knob##*:}
  if [ "$(sysctl -n "$name" 2>/dev/null || echo 0)" -lt "$want" ]; then
    sysctl -q -w "$name=$want" || log "could not raise $name to $want: lab hosts may hang at boot"
  fi
done

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "no Docker engine installed: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  # PID 1 is not systemd on these machines, so dockerd is started by hand.
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine answers: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
exit 1

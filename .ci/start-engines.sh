#!/usr/bin/env bash
# Installs (from Debian) and starts the container engines the tests use: dockerd and the
# rootful Podman API service. Idempotent: installs what is missing, starts what is not
# answering. Developers can run it by hand; CI runs it from .ci/run.
set -euo pipefail

log_dir=${MLGYM_ENGINE_LOGS:-/var/log/mlgym-engines}
mkdir -p "$log_dir"
podman_sock=${PODMAN_SOCK:-/run/podman/podman.sock}

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null 2>&1 || need+=(catatonit)
command -v docker-init >/dev/null 2>&1 || command -v tini >/dev/null 2>&1 || need+=(tini)
if ((${#need[@]})); then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

wait_for() { # description, seconds, command...
  local what=$1 secs=$2
  shift 2
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "$what did not come up within ${secs}s" >&2
  return 1
}

if docker info >/dev/null 2>&1; then
  echo "== dockerd already running"
else
  echo "== starting dockerd (log: $log_dir/dockerd.log)"
  nohup dockerd >"$log_dir/dockerd.log" 2>&1 &
  wait_for dockerd 60 docker info || { tail -30 "$log_dir/dockerd.log" >&2; exit 1; }
fi
docker version --format 'docker engine {{.Server.Version}} (API {{.Server.APIVersion}})'

# Rootful Podman on these machines: default ulimits must fit the host, and without
# systemd the cgroup manager and event log must not need it.
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
if ! grep -q 'mlgym-rs' "$conf" 2>/dev/null; then
  if [ -s "$conf" ] && grep -q '^\[containers\]' "$conf"; then
    echo "note: $conf exists; appending mlgym-rs settings may duplicate sections" >&2
  fi
  cat >>"$conf" <<'CONF'
# mlgym-rs: settings for rootful podman in CI and on hosts without systemd
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi

podman_ok() { curl -fsS --unix-socket "$podman_sock" http://d/_ping; }
if podman_ok >/dev/null 2>&1; then
  echo "== podman service already running"
else
  echo "== starting the podman API service on $podman_sock (log: $log_dir/podman.log)"
  mkdir -p "$(dirname "$podman_sock")"
  nohup podman system service --time=0 "unix://$podman_sock" >"$log_dir/podman.log" 2>&1 &
  wait_for "podman service" 60 podman_ok || { tail -30 "$log_dir/podman.log" >&2; exit 1; }
fi
podman version --format 'podman engine {{.Server.Version}}' 2>/dev/null || podman --version

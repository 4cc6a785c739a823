#!/usr/bin/env bash
# Installs (from Debian) and starts the container engines the tests use: dockerd and the
# rootful Podman API service on /run/podman/podman.sock. Idempotent: installs only what
# is missing, configures Podman once, and starts only what does not answer. CI runs it
# from .ci/run; developers can run it by hand (as root, or with sudo available).
#
#   MLGYM_ENGINE_LOGS  where the daemons log (default /var/log/mlgym-engines)
#   PODMAN_SOCK        the Podman socket path (default /run/podman/podman.sock)
set -euo pipefail

log_dir=${MLGYM_ENGINE_LOGS:-/var/log/mlgym-engines}
podman_sock=${PODMAN_SOCK:-/run/podman/podman.sock}
podman_sock=${podman_sock#unix://}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "start-engines: run as root (no sudo here)" >&2; exit 1; }
  SUDO="sudo"
fi
export PATH=$PATH:/usr/sbin:/sbin

say() { printf '== %s\n' "$*"; }
die() {
  echo "start-engines: $*" >&2
  exit 1
}
installed() { [ "$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

# ---- packages
need=()
command -v dockerd >/dev/null || need+=(docker.io)
# `docker run --init` runs docker-init; Debian's docker.io links it to tini-static.
docker_init=$(command -v docker-init || echo /usr/bin/docker-init)
[ -x "$docker_init" ] || [ -x /usr/libexec/docker/docker-init ] || need+=(tini)
command -v podman >/dev/null || need+=(podman)
# `podman run --init` runs catatonit (only recommended by Debian's podman).
[ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null || need+=(catatonit)
# newuidmap/newgidmap, for anyone who also runs Podman rootless on this machine.
installed uidmap || command -v newuidmap >/dev/null || need+=(uidmap)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
$SUDO mkdir -p "$log_dir"

wait_for() { # seconds, command... : true once the command succeeds
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  return 1
}

# Starts a daemon detached from this shell (own session, output appended to a log), so
# that it keeps running after this script and CI step end.
in_background() { # log, command...
  local log=$1
  shift
  # shellcheck disable=SC2016 # expanded by the inner sh
  $SUDO sh -c 'log=$1; shift; exec setsid nohup "$@" >>"$log" 2>&1 </dev/null' sh "$log" "$@" &
}

# ---- Docker
docker_ok() { $SUDO docker info; }
if docker_ok >/dev/null 2>&1; then
  say "dockerd already running"
else
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    say "starting docker with systemctl"
    $SUDO systemctl start docker || true
  elif pid=$(cat /var/run/docker.pid 2>/dev/null) && [ -n "$pid" ] && $SUDO kill -0 "$pid" 2>/dev/null; then
    say "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    say "starting dockerd (log: $log_dir/dockerd.log)"
    $SUDO rm -f /var/run/docker.pid
    in_background "$log_dir/dockerd.log" dockerd
  fi
  if ! wait_for 60 docker_ok; then
    tail -30 "$log_dir/dockerd.log" >&2 || true
    die "dockerd did not answer within 60 s (log above: $log_dir/dockerd.log)"
  fi
fi
$SUDO docker version --format 'docker engine {{.Server.Version}}, API {{.Server.APIVersion}}'

# ---- Podman configuration (rootful)
# Its default ulimits must not exceed the host's hard limits (they do on these machines:
# containers fail to start), and without systemd the cgroup manager and event logger
# must not need it. Keys are set inside their [table]; the rest of the file is kept.
conf=/etc/containers/containers.conf
toml_set() { # table key value [keep]: set key in [table]; with "keep", only when absent
  local table=$1 key=$2 value=$3 keep=${4:-} tmp
  tmp=$(mktemp)
  $SUDO touch "$conf"
  awk -v table="$table" -v key="$key" -v value="$value" -v keep="$keep" '
    function emit() { print key " = " value; done = 1 }
    skip { if ($0 ~ /\]/) skip = 0; next }      # rest of a replaced multi-line array
    /^[ \t]*\[/ {
      if (intable && !done) emit()
      name = $0; sub(/^[ \t]*\[+[ \t]*/, "", name); sub(/[ \t]*\].*$/, "", name)
      intable = (name == table)
      if (intable) seen = 1
      print; next
    }
    intable && !done && $0 ~ ("^[ \t]*" key "[ \t]*=") {
      if (keep == "keep") { print; done = 1; next }
      emit()
      v = $0; sub(/^[^=]*=[ \t]*/, "", v)
      if (v ~ /^\[/ && v !~ /\]/) skip = 1
      next
    }
    { print }
    END {
      if (intable && !done) emit()
      else if (!seen) { if (NR > 0) print ""; print "[" table "]"; emit() }
    }' "$conf" >"$tmp"
  if ! cmp -s "$tmp" "$conf"; then
    $SUDO cp "$tmp" "$conf"
    changed=1
  fi
  rm -f "$tmp"
}
changed=0
$SUDO mkdir -p /etc/containers
toml_set containers default_ulimits '["nofile=20000:20000", "nproc=20000:20000"]'
if [ ! -d /run/systemd/system ]; then
  toml_set engine cgroup_manager '"cgroupfs"' keep
  toml_set engine events_logger '"file"' keep
fi
if ((changed)); then say "updated $conf"; else say "$conf already configured"; fi

# ---- Podman API service
podman_ok() { $SUDO curl -fsS --max-time 5 --unix-socket "$podman_sock" http://d/_ping; }
if podman_ok >/dev/null 2>&1; then
  if ((changed)); then
    echo "note: a podman service was already running; it reads $conf only when it starts" >&2
  fi
  say "podman service already answering on $podman_sock"
else
  say "starting the podman API service on unix://$podman_sock (log: $log_dir/podman.log)"
  $SUDO mkdir -p "$(dirname "$podman_sock")"
  $SUDO rm -f "$podman_sock" # a stale socket nobody answers on
  in_background "$log_dir/podman.log" podman system service --time=0 "unix://$podman_sock"
  if ! wait_for 60 podman_ok; then
    tail -30 "$log_dir/podman.log" >&2 || true
    die "the podman service did not answer on $podman_sock within 60 s"
  fi
fi
echo "podman engine $($SUDO podman version --format '{{.Client.Version}}')"
echo "docker: unix:///var/run/docker.sock; podman: unix://$podman_sock (export PODMAN_SOCK=$podman_sock)"

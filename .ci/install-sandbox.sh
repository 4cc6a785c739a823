#!/usr/bin/env bash
# Installs bubblewrap (the local backend's sandbox) from Debian when it is missing, and
# checks that it can build a sandbox here (user namespaces allowed). Idempotent; CI runs
# it from .ci/run as root on a fresh Debian machine, developers may run it by hand.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-sandbox: run as root (no sudo here)" >&2; exit 1; }
  SUDO="sudo"
fi

if ! command -v bwrap >/dev/null; then
  echo "== installing bubblewrap"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
fi
bwrap --version
if ! bwrap --unshare-user --unshare-pid --unshare-net --die-with-parent --ro-bind / / \
  --proc /proc --dev /dev -- /bin/true; then
  echo "install-sandbox: bwrap cannot create a sandbox here: allow unprivileged user" \
    "namespaces (sysctl -w kernel.unprivileged_userns_clone=1, user.max_user_namespaces)" >&2
  exit 1
fi

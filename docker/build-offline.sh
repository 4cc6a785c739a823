#!/usr/bin/env bash
# Builds the mlgym agent image from Debian packages only (no registry needed):
# debootstrap a minimal Debian root with Python and the scientific stack, add the
# unprivileged user `agent`, and import the tree into Docker and/or Podman.
#
#   docker/build-offline.sh [--engine docker|podman|both] [--tag NAME] [--force]
#
# The root tarball is cached (MLGYM_IMAGE_CACHE, default /var/cache/mlgym-image) under a
# hash of the package list, and an engine that already has the tag with that hash is
# skipped, so re-running is cheap. docs/containers.md describes the image contract.
set -euo pipefail

engine=docker
tag=mlgym-agent:latest
force=0
suite=${MLGYM_IMAGE_SUITE:-bookworm}
while (($#)); do
  case $1 in
  --engine) engine=$2; shift 2 ;;
  --tag) tag=$2; shift 2 ;;
  --force) force=1; shift ;;
  -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
case $engine in
docker) engines=(docker) ;;
podman) engines=(podman) ;;
both) engines=(docker podman) ;;
*) echo "--engine must be docker, podman or both" >&2; exit 2 ;;
esac

packages=bash,coreutils,util-linux,procps,file,git,ca-certificates,python3,python3-numpy,python3-pandas,python3-scipy,python3-sklearn,flake8
hash=$(printf '%s\n' "$packages" "$suite" "layout-1" | sha256sum | cut -c1-16)
cache=${MLGYM_IMAGE_CACHE:-/var/cache/mlgym-image}
tarball=$cache/rootfs-$hash.tar
t0=$SECONDS
step() { printf '[%4ds] %s\n' $((SECONDS - t0)) "$*"; }

mirror() {
  local m
  m=$(grep -hoE '^(deb|URIs:) +\[?[^]]*\]? *https?://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -oE 'https?://[^ ]+' | grep -v security | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

has_image() { # engine
  local env
  env=$("$1" image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag" 2>/dev/null) || return 1
  grep -qx "MLGYM_IMAGE_HASH=$hash" <<<"$env"
}

todo=()
for e in "${engines[@]}"; do
  command -v "$e" >/dev/null || { echo "$e is not installed" >&2; exit 1; }
  if ((force == 0)) && has_image "$e"; then
    step "$e already has $tag (hash $hash)"
  else
    todo+=("$e")
  fi
done
((${#todo[@]})) || exit 0

if ((force == 1)) || [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/root.XXXXXX")
  logf=$cache/debootstrap.log
  trap 'rm -rf "$root"' EXIT
  src=$(mirror)
  step "debootstrap $suite from $src (log: $logf)"
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$src" >"$logf" 2>&1; then
    tail -30 "$logf" >&2
    echo "debootstrap failed" >&2
    exit 1
  fi
  step "adding the user agent (uid 1000) and /home/agent/workspace"
  chroot "$root" /bin/bash -euc '
    groupadd -g 1000 agent
    useradd -m -u 1000 -g 1000 -s /bin/bash agent
    mkdir -p /home/agent/workspace && chown -R agent:agent /home/agent
    ln -sf /usr/bin/python3 /usr/local/bin/python
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /var/log/*.log
  '
  step "packing the root file system"
  tar -C "$root" --numeric-owner -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$root"
  trap - EXIT
else
  step "using the cached root $tarball"
fi

for e in "${todo[@]}"; do
  step "importing into $e as $tag"
  "$e" import \
    --change 'USER agent' \
    --change 'WORKDIR /home/agent/workspace' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "ENV MLGYM_IMAGE_HASH=$hash" \
    --change 'CMD ["sleep", "infinity"]' \
    "$tarball" "$tag" >/dev/null
  "$e" run --rm --network none "$tag" python3 -c 'import numpy, pandas, scipy, sklearn, flake8' ||
    { echo "the imported image fails its smoke test" >&2; exit 1; }
done
step "done: $tag ($(du -h "$tarball" | cut -f1) root)"

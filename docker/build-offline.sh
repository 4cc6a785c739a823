#!/usr/bin/env bash
# Builds the mlgym agent image from Debian packages only; no image registry is needed.
# A minimal Debian root (debootstrap) gets Python 3 with numpy, pandas, scipy,
# scikit-learn and flake8, the unprivileged user `agent` (uid/gid 1000) and
# /home/agent/workspace, and is imported into Docker and/or Podman.
#
#   docker/build-offline.sh [--engine docker|podman|both] [--tag NAME] [--force]
#
# The root tarball is cached in MLGYM_IMAGE_CACHE (default /var/cache/mlgym-image) under
# a hash of the package list; an engine whose image already carries that hash (label
# mlgym.image.hash) is left alone unless --force. MLGYM_DEBIAN_MIRROR overrides the
# mirror read from apt's sources. Needs root (debootstrap, chroot).
# The image contract is in docs/containers.md.
set -euo pipefail

engine=docker
tag=mlgym-agent:latest
force=0
suite=${MLGYM_IMAGE_SUITE:-bookworm}

die() {
  echo "build-offline: $*" >&2
  exit 1
}
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case $1 in
  --engine | --tag)
    if (($# < 2)) || [ -z "$2" ]; then echo "build-offline: $1 needs a value" >&2; exit 2; fi
    if [ "$1" = --engine ]; then engine=$2; else tag=$2; fi
    shift 2
    ;;
  --engine=*) engine=${1#*=}; shift ;;
  --tag=*) tag=${1#*=}; shift ;;
  --force) force=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "build-offline: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case $engine in
docker) engines=(docker) ;;
podman) engines=(podman) ;;
both) engines=(docker podman) ;;
*) echo "build-offline: --engine must be docker, podman or both (got '$engine')" >&2; exit 2 ;;
esac

# What goes into the root. python3-scipy depends on python3-pythran, a build-time
# compiler that drags in gcc, g++, Boost headers and Python headers (about 500 MB);
# SciPy does not import it at run time, so a stub package stands in for it and the
# tool chain is purged again (see slim_root). libopenblas0-pthread keeps the fast BLAS.
packages=bash,coreutils,util-linux,procps,file,git,ca-certificates,python3,python3-numpy,python3-pandas,python3-scipy,python3-sklearn,flake8,libopenblas0-pthread
# Bump when the steps done inside the root change, so caches and images are rebuilt.
recipe=3
hash=$(printf '%s\n' "$packages" "$suite" "recipe-$recipe" | sha256sum | cut -c1-16)
cache=${MLGYM_IMAGE_CACHE:-/var/cache/mlgym-image}
tarball=$cache/rootfs-$suite-$hash.tar
logf=$cache/debootstrap.log

t0=$SECONDS
step() { printf '[%4ds] %s\n' $((SECONDS - t0)) "$*"; }

# The Debian mirror apt already uses (deb822 .sources or one-line .list), else the default.
mirror() {
  if [ -n "${MLGYM_DEBIAN_MIRROR:-}" ]; then
    echo "$MLGYM_DEBIAN_MIRROR"
    return
  fi
  local files=() f m
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  m=""
  if ((${#files[@]})); then
    m=$(awk '
      /^[[:space:]]*#/ { next }
      $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; break } }
      $1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }
    ' "${files[@]}" | grep -E '^https?://[^ ]*/debian/?$' | head -1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

engine_ok() { "$1" info >/dev/null 2>&1; }
image_hash() { # engine -> the hash label of $tag, empty when absent
  "$1" image inspect --format '{{index .Config.Labels "mlgym.image.hash"}}' "$tag" 2>/dev/null || true
}
image_id() { "$1" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true; }

# Unmounts whatever debootstrap left mounted below the root, then deletes it without
# ever crossing into another file system.
cleanup_root() {
  local r=$1
  [ -n "$r" ] && [ -d "$r" ] || return 0
  awk -v r="$r/" 'index($2 "/", r) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$r"
}

# Inside the chroot: replace pythran by a stub, purge what only it needed, add the
# user, `python`, and drop caches and documentation (copyright files stay).
slim_root() { # root
  chroot "$1" /bin/bash -euo pipefail -s "$packages" <<'CHROOT'
keep=$1
export DEBIAN_FRONTEND=noninteractive
stub=$(mktemp -d)
mkdir -p "$stub/DEBIAN"
cat >"$stub/DEBIAN/control" <<CONTROL
Package: mlgym-no-pythran
Version: 1
Architecture: all
Maintainer: mlgym-rs <noreply@localhost>
Provides: python3-pythran
Description: stands in for python3-pythran
 SciPy's Debian package depends on the Pythran compiler, which it needs only
 when SciPy is built; this image has no compiler.
CONTROL
dpkg-deb -b "$stub" /tmp/stub.deb >/dev/null
dpkg -i /tmp/stub.deb >/dev/null
rm -rf "$stub" /tmp/stub.deb
dpkg --purge python3-pythran >/dev/null
# Everything is "automatic" except what was asked for and the base system, so that
# autoremove takes exactly the tool chain that only pythran wanted.
dpkg-query -W -f '${Package}\n' | xargs apt-mark auto >/dev/null
dpkg-query -W -f '${Package} ${Essential} ${Priority}\n' |
  awk '$2 == "yes" || $3 == "required" || $3 == "important" { print $1 }' | xargs apt-mark manual >/dev/null
apt-mark manual mlgym-no-pythran ${keep//,/ } >/dev/null
apt-get -qq -o Dpkg::Use-Pty=0 -o APT::AutoRemove::RecommendsImportant=false -o APT::AutoRemove::SuggestsImportant=false \
  autoremove --purge -y >/dev/null
apt-get check -qq >/dev/null

groupadd -g 1000 agent
useradd -m -u 1000 -g 1000 -s /bin/bash agent
mkdir -p /home/agent/workspace
chown -R agent:agent /home/agent
ln -sf /usr/bin/python3 /usr/local/bin/python
# No way up: no set-user-ID or set-group-ID programs (su, passwd, mount...). The sandbox
# also sets no-new-privileges, which makes the kernel ignore such bits anyway.
find / -xdev \( -perm -4000 -o -perm -2000 \) -type f -exec chmod ug-s {} +

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old \
  /var/log/apt /var/log/*.log /usr/share/man/* /usr/share/info/* /usr/share/locale/* /tmp/* /root/.cache
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
CHROOT
}

build_root() {
  (($(id -u) == 0)) || die "building the root needs root (debootstrap, chroot); run it with sudo"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  mkdir -p "$cache"
  local root src pid n=0 secs
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'cleanup_root "'"$root"'"' EXIT
  src=$(mirror)
  step "debootstrap --variant=minbase $suite from $src (log: $logf)"
  secs=$SECONDS
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$src" >"$logf" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((++n % 20 == 0)); then
      step "  $(grep -E '^[IW]:' "$logf" | tail -1 || true)"
    fi
  done
  if ! wait "$pid"; then
    echo "---- last lines of $logf" >&2
    tail -25 "$logf" >&2
    die "debootstrap failed (mirror $src; set MLGYM_DEBIAN_MIRROR to use another)"
  fi
  step "debootstrap done in $((SECONDS - secs))s ($(du -sh --one-file-system "$root" | cut -f1))"
  step "slimming the root, adding the user agent (uid 1000) and /home/agent/workspace"
  slim_root "$root" || die "setting up the root failed"
  step "packing the root ($(du -sh --one-file-system "$root" | cut -f1)) into $tarball"
  tar -C "$root" --numeric-owner --one-file-system -cf "$tarball.part" . || die "tar failed"
  mv "$tarball.part" "$tarball"
  cleanup_root "$root"
  trap - EXIT
  # Older roots (other package lists or recipes) are no longer wanted.
  find "$cache" -maxdepth 1 -name 'rootfs-*.tar*' ! -path "$tarball" -delete
}

smoke_test() { # engine
  local out
  out=$("$1" run --rm --network none "$tag" bash -c \
    'id -u; id -g; pwd; python -c "import numpy, pandas, scipy, sklearn, flake8; print(\"imports-ok\")"
    find / -xdev -perm /6000 -type f 2>/dev/null | wc -l' 2>&1) ||
    { echo "$out" >&2; return 1; }
  [ "$(printf '%s\n' "$out" | tr '\n' ' ')" = "1000 1000 /home/agent/workspace imports-ok 0 " ] ||
    { echo "$out" >&2; return 1; }
}

todo=()
for e in "${engines[@]}"; do
  command -v "$e" >/dev/null || die "$e is not installed"
  engine_ok "$e" || die "$e does not answer ('$e info' fails); start it with .ci/start-engines.sh"
  if ((force == 0)) && [ "$(image_hash "$e")" = "$hash" ]; then
    step "$e already has $tag (mlgym.image.hash=$hash); --force rebuilds it"
  else
    todo+=("$e")
  fi
done
((${#todo[@]})) || exit 0

if ((force == 1)) || [ ! -s "$tarball" ]; then
  build_root
else
  step "using the cached root $tarball"
fi

for e in "${todo[@]}"; do
  old=$(image_id "$e")
  secs=$SECONDS
  step "importing into $e as $tag"
  "$e" import \
    --change 'USER agent' \
    --change 'WORKDIR /home/agent/workspace' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL mlgym.image.hash=$hash" \
    --change 'CMD ["sleep","infinity"]' \
    - "$tag" <"$tarball" >/dev/null 2>"$cache/import-$e.log" ||
    { cat "$cache/import-$e.log" >&2; die "$e import failed"; }
  new=$(image_id "$e")
  # The image this tag named before is dropped when no container still uses it.
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    "$e" image rm "$old" >/dev/null 2>&1 || true
  fi
  smoke_test "$e" || die "the image imported into $e fails its smoke test (uid, workdir, imports)"
  size=$("$e" image inspect --format '{{.Size}}' "$tag")
  step "$e: $tag imported and checked in $((SECONDS - secs))s ($((size / 1000000)) MB)"
done
step "done: $tag (mlgym.image.hash=$hash)"

#!/usr/bin/env bash
# Runs the exploit suite (tests/python/test_exploits.py) as an unprivileged host user, so
# every attack is also tried where the env's own user is not root: the local backend,
# and Docker through the `docker` group. Uses the wheel from `make wheel` (dist/) in a
# venv of that user's. Podman runs rootful here only (rootless Podman needs per-user
# subuid ranges and its own storage; see docs/security.md).
#
#   MLGYM_CI_USER   the user to run as (default mlgym-ci; created when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
user=${MLGYM_CI_USER:-mlgym-ci}
[ "$(id -u)" -eq 0 ] || { echo "unprivileged.sh: run as root (it creates the user)" >&2; exit 1; }
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
getent group docker >/dev/null && usermod -aG docker "$user"

wheel=$(ls -t dist/mlgym_rs-*.whl | head -1)
work=$(runuser -u "$user" -- mktemp -d /tmp/mlgym-unpriv-XXXXXX)
trap 'rm -rf "$work"' EXIT
install -m 0644 -o "$user" "$wheel" "$work/"
mkdir -p "$work/tests"
install -m 0644 -o "$user" tests/python/conftest.py tests/python/engines.py \
  tests/python/test_exploits.py "$work/tests/"
chown -R "$user" "$work"

runuser -u "$user" -- python3 -m venv "$work/venv"
runuser -u "$user" -- "$work/venv/bin/pip" install --quiet "$work/$(basename "$wheel")" \
  "pytest>=8" "gymnasium>=1.0" "pyyaml>=6"
# Away from the checkout, so the tests import the installed wheel only.
cd "$work/tests"
runuser -u "$user" -- env HOME="/home/$user" MLGYM_TEST_DOCKER="${MLGYM_TEST_DOCKER:-}" \
  "$work/venv/bin/python" -m pytest -q -p no:cacheprovider test_exploits.py -k "local or docker"

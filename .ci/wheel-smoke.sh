#!/usr/bin/env bash
# Installs the wheel from `make wheel` into a fresh venv with no Rust toolchain on PATH
# and plays one episode, so a wheel that only works where it was built fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=$(ls -t dist/mlgym_rs-*.whl | head -1)
venv=$(mktemp -d /tmp/mlgym-wheel-XXXXXX)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
# No cargo, rustc or maturin reachable: only the system's and the venv's binaries.
export PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin"
if command -v cargo >/dev/null || command -v rustc >/dev/null; then
  echo "a Rust toolchain is still on PATH" >&2
  exit 1
fi
"$venv/bin/pip" install --quiet "$wheel"
cd "$venv"  # away from the checkout, so `import mlgym` can only find the wheel
"$venv/bin/python" - <<'PY'
import mlgym

assert mlgym.__file__.startswith(__import__("sys").prefix), mlgym.__file__
env = mlgym.make("battleOfSexes", max_steps=5)
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step("validate")
assert "Evaluation Score" in obs, obs
obs, reward, terminated, truncated, info = env.step("submit")
assert terminated and info["exit_status"] == "submitted", info
env.close()
print(f"wheel episode: submitted, reward {reward:.4f}, score {info['metrics']}")
PY

"""MLGym's golden ACI vectors replayed through the public `mlgym.Session` (the Rust core).

For each sequence of ../shared/spec/aci-golden/dev.jsonl: a fresh copy of its fixture, a
local session with the sequence's shell variables, every action sent as the agent wrote
it, and every observation and state compared byte for byte (the workspace prefix
`/home/agent/workspace` rewritten to the temporary workspace). Held-out sequences in the
same format can be checked by pointing `MLGYM_ACI_GOLDEN` at another `.jsonl` file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlgym
import pytest
from conftest import SHARED, fresh_golden_workspace

GOLDEN = SHARED / "spec" / "aci-golden"
GOLDEN_FILE = Path(os.environ.get("MLGYM_ACI_GOLDEN") or GOLDEN / "dev.jsonl")
WORKSPACE = "/home/agent/workspace"


def _sequences() -> list:
    if not GOLDEN_FILE.exists():
        return [pytest.param(None, id="golden-missing")]
    lines = GOLDEN_FILE.read_text().splitlines()
    seqs = [json.loads(line) for line in lines if line.strip()]
    return [pytest.param(s, id=s["id"]) for s in seqs]


@pytest.mark.parametrize("seq", _sequences())
def test_golden_sequence_through_session(seq: dict | None, tmp_path: Path, aci_python: str):
    if seq is None:
        msg = f"{GOLDEN_FILE} not present (the golden ACI vectors live in ../shared)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    ws = fresh_golden_workspace(tmp_path, seq["fixture"])
    shell_vars = {k: str(v) for k, v in seq.get("env", {}).items()}
    # `python` on the session's PATH is the lint venv (flake8 7), as on the recording machine.
    process_env = {"PATH": f"{aci_python}:/usr/local/bin:/usr/bin:/bin"}
    with mlgym.Session(ws, backend="local", env=shell_vars, process_env=process_env) as s:
        for i, step in enumerate(seq["steps"]):
            result = s.run(step["action"].replace(WORKSPACE, str(ws)))
            want = step["observation"].replace(WORKSPACE, str(ws))
            want_state = {k: v.replace(WORKSPACE, str(ws)) for k, v in step["state"].items()}
            assert result.observation == want, f"step {i}: {step['action']!r}"
            assert result.state == want_state, f"step {i}: {step['action']!r}"

"""The bash runtime (src/shell/runtime.sh + lintd.py) against MLGym's golden ACI vectors.

Each sequence of ../shared/spec/aci-golden/dev.jsonl is replayed through
`aci_harness.AciSession` (the step protocol the Rust shell layer speaks) in a fresh copy
of its fixture; every observation and state must match byte for byte once
`/home/agent/workspace` is rewritten to the temporary workspace.

The session's `python`/`python3` must match the recording machine: CPython with flake8 7
and without numpy. A venv is made for that (once) at `$MLGYM_ACI_VENV` or `.venv-aci/`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aci_harness import (  # noqa: E402
    AciSession,
    MlgymLineModel,
    guard_multiline_input,
    is_malformed_edit,
)
from conftest import fresh_golden_workspace  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared/spec/aci-golden"
WORKSPACE = "/home/agent/workspace"
# Variables of this machine that the recording machine did not have.
CLEAN_ENV = {
    "PYTHONDONTWRITEBYTECODE": None,
    "PYTHONUNBUFFERED": None,
    "PYTHONPATH": None,
    "PYTHONHOME": None,
    "PYTHONSTARTUP": None,
}


def _golden_sequences() -> list:
    path = GOLDEN / "dev.jsonl"
    if not path.exists():
        return [pytest.param(None, id="golden-missing")]
    seqs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [pytest.param(s, id=s["id"]) for s in seqs]


@pytest.mark.parametrize("seq", _golden_sequences())
def test_golden_sequence(seq: dict | None, tmp_path: Path, aci_python: str) -> None:
    if seq is None:
        msg = f"{GOLDEN / 'dev.jsonl'} not present (the golden ACI vectors live in ../shared)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    ws = fresh_golden_workspace(tmp_path, seq["fixture"])
    env = {k: str(v) for k, v in seq.get("env", {}).items()}
    with AciSession(str(ws), env=env, path_prefix=[aci_python], environ=CLEAN_ENV) as s:
        for i, step in enumerate(seq["steps"]):
            obs, _code, state = s.step(step["action"].replace(WORKSPACE, str(ws)))
            want = step["observation"].replace(WORKSPACE, str(ws))
            want_state = {k: v.replace(WORKSPACE, str(ws)) for k, v in step["state"].items()}
            assert obs == want, f"step {i}: {step['action']!r}"
            assert state == want_state, f"step {i}: {step['action']!r}"


# --- properties the golden vectors do not pin down -----------------------------------


def test_line_model_worked_example() -> None:
    m = MlgymLineModel()
    a1 = "cat > extra.py << 'EOF'\nprint('from heredoc')\nEOF"
    assert m.eval_line(a1) == 125
    m.after_shell_step(a1, ran=False)
    m.after_shell_step("python extra.py", ran=True)
    assert m.eval_line("cat << EOF\nline one\nline two\nEOF") == 152
    m.after_env_step()
    assert m.next_check == 147 + 6


def test_guard_and_malformed_edit() -> None:
    assert (
        guard_multiline_input("edit 1:2\nx\nend_of_edit")
        == "edit 1:2 << 'end_of_edit'\nx\nend_of_edit"
    )
    # Text before the block is kept (MLGym truncates it).
    assert guard_multiline_input("ls\nedit 1:2\nx\nend_of_edit").startswith(
        "ls\n\nedit 1:2 << 'end_of_edit'"
    )
    assert is_malformed_edit("edit 3:4\n    pass")
    assert not is_malformed_edit("edit 3\nfoo\nend_of_edit")


def test_line_numbers_follow_mlgym(tmp_path: Path) -> None:
    ws = fresh_golden_workspace(tmp_path, None)
    with AciSession(str(ws), environ=CLEAN_ENV) as s:
        # Numbers checked against a bash driven exactly as MLGym drives its shell.
        assert s.step("echo $LINENO")[0] == "125"
        assert s.step("echo (")[0].startswith("/bin/bash: line 1: syntax error")
        s.step("edit 1:2\nbroken")  # malformed: answered by the env
        obs = s.step("echo a\ncd /nonexistent")[0]
        assert obs == "a\n/bin/bash: line 157: cd: /nonexistent: No such file or directory"


def test_edit_without_linter_is_applied(tmp_path: Path) -> None:
    ws = fresh_golden_workspace(tmp_path, None)
    (ws / "m.py").write_text("x = 1\n")
    environ = {**CLEAN_ENV, "__MLGYM_LINTD": "/nonexistent/lintd.py"}
    with AciSession(str(ws), environ=environ) as s:
        s.step("open m.py")
        obs = s.step("edit 1:1\nx = undefined_name\nend_of_edit")[0]
    assert obs.endswith("Edit the file again if necessary."), obs
    assert (ws / "m.py").read_text() == "x = undefined_name\n"


def test_lint_server_is_invisible_to_jobs(tmp_path: Path, aci_python: str) -> None:
    ws = fresh_golden_workspace(tmp_path, None)
    (ws / "m.py").write_text("x = 1\n")
    with AciSession(str(ws), path_prefix=[aci_python], environ=CLEAN_ENV) as s:
        s.step("sleep 0.2 & pid=$!")
        s.step("open m.py")
        assert "F821" in s.step("edit 1:1\nx = nope\nend_of_edit")[0]
        assert s.step('[ "$!" = "$pid" ] && echo same')[0] == "same"
        assert s.step("jobs | wc -l")[0] in ("0", "1")
        assert s.step("wait; echo done")[0] == "done"
        assert s.step("ls")[0] == "m.py"

"""MLGym's golden ACI vectors replayed through the public `mlgym.Session` (the Rust core).

For each sequence of ../shared/spec/aci-golden/dev.jsonl: a fresh copy of its fixture, a
local session with the sequence's shell variables, every action sent as the agent wrote
it, and every observation and state compared byte for byte (the workspace prefix
`/home/agent/workspace` rewritten to the temporary workspace). Held-out sequences in the
same format can be checked by pointing `MLGYM_ACI_GOLDEN` at another `.jsonl` file.

The tests after the golden replay need nothing from ../shared: they pin properties of
the step protocol that the vectors do not (bash line numbers, the multi-line guard, the
malformed-edit check, the lint server's invisibility to the agent's jobs).
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


# --- properties the golden vectors do not pin down (no ../shared needed) ---------------

MALFORMED_EDIT = (
    "Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the "
    "end of your edit."
)


def _workspace(tmp_path: Path) -> Path:
    ws = (tmp_path / "workspace").resolve()
    ws.mkdir()
    return ws


def test_line_model_worked_example(tmp_path: Path) -> None:
    """docs/internals/shell-protocol.md's worked example: a leftover `EOF` line is run at
    the line numbers MLGym's shell reports (125, then 152)."""
    with mlgym.Session(_workspace(tmp_path)) as s:
        obs = s.run("cat > extra.py << 'EOF'\nprint('from heredoc')\nEOF").observation
        assert obs.split("\n")[-1] == "/bin/bash: line 125: EOF: command not found"
        assert not (Path(s.workspace) / "extra.py").exists()
        assert s.run("python extra.py").exit_code != 0
        obs = s.run("cat << EOF\nline one\nline two\nEOF").observation
        assert obs.split("\n")[-1] == "/bin/bash: line 152: EOF: command not found"


def test_line_numbers_follow_mlgym(tmp_path: Path) -> None:
    with mlgym.Session(_workspace(tmp_path)) as s:
        # Numbers checked against a bash driven exactly as MLGym drives its shell.
        assert s.run("echo $LINENO").observation == "125"
        assert s.run("echo (").observation.startswith("/bin/bash: line 1: syntax error")
        assert s.run("edit 1:2\nbroken").observation == MALFORMED_EDIT  # answered by the env
        obs = s.run("echo a\ncd /nonexistent").observation
        assert obs == "a\n/bin/bash: line 157: cd: /nonexistent: No such file or directory"


def test_multiline_guard_and_malformed_edit(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (ws / "f.txt").write_text("a\nb\n")
    with mlgym.Session(ws) as s:
        s.run("open f.txt")
        # The guard turns the block into a heredoc; text before it still runs (MLGym's
        # guard truncates it, see docs/compatibility.md).
        obs = s.run("ls\nedit 1:1\nA\nend_of_edit").observation
        assert obs.startswith(f"f.txt\n[File: {ws / 'f.txt'} (2 lines total)]\n1:A\n2:b\n")
        assert (ws / "f.txt").read_text() == "A\nb\n"
        # `edit a:b` without `end_of_edit` never reaches the shell.
        r = s.run("edit 1:2\n    pass")
        assert (r.observation, r.exit_code) == (MALFORMED_EDIT, None)
        # Without `a:b` it is not "malformed": the shell answers with the usage line.
        r = s.run("edit 3\nfoo\nend_of_edit")
        assert r.observation == "Usage: edit <start_line>:<end_line>"
    assert (ws / "f.txt").read_text() == "A\nb\n"


def test_lint_server_is_invisible_to_jobs(tmp_path: Path, aci_python: str) -> None:
    ws = _workspace(tmp_path)
    (ws / "m.py").write_text("x = 1\n")
    process_env = {"PATH": f"{aci_python}:/usr/local/bin:/usr/bin:/bin"}
    with mlgym.Session(ws, process_env=process_env) as s:
        s.run("sleep 0.2 & pid=$!")
        s.run("open m.py")
        assert "F821" in s.run("edit 1:1\nx = nope\nend_of_edit").observation
        assert s.run('[ "$!" = "$pid" ] && echo same').observation == "same"
        assert s.run("jobs | wc -l").observation in ("0", "1")
        assert s.run("wait; echo done").observation == "done"
        assert s.run("ls").observation == "m.py"

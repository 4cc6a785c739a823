"""The game-theory graders (battleOfSexes, prisonersDilemma, blotto), run the way the env
runs them: the pristine evaluate.py and the secret files copied flat into a fresh grading
dir, `python3 <G>/evaluate.py` with cwd = the workspace, a clean environment and a nonce
on stdin; only the `MLGYM-METRICS <nonce> {...}` line counts.

Standard library plus pytest only (no build of the Rust extension needed).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TASKS = ("battleOfSexes", "prisonersDilemma", "blotto")
TOLERANCE = 0.02  # the spread over seeds is about 0.002-0.004


def config_text(task: str) -> str:
    return (REPO / "configs" / "tasks" / f"{task}.yaml").read_text()


def secret_files(task: str) -> list[Path]:
    """The `secret_files:` entries of the task's YAML (read without a YAML library)."""
    text = config_text(task)
    block = re.search(r"^secret_files:\n((?:  - .+\n)+)", text, re.M)
    assert block, f"{task}.yaml has no secret_files list"
    return [REPO / line.strip()[2:] for line in block.group(1).splitlines()]


def recorded_baseline(task: str) -> float:
    match = re.search(r"^baseline_scores:\n  - Score: (\S+)$", config_text(task), re.M)
    assert match, f"{task}.yaml has no baseline score"
    return float(match.group(1))


class Result:
    def __init__(self, proc: subprocess.CompletedProcess, nonce: str, elapsed: float):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        tag = f"MLGYM-METRICS {nonce} "
        self.metric_lines = [line for line in self.stdout.splitlines() if line.startswith(tag)]
        self.metrics = json.loads(self.metric_lines[-1][len(tag) :]) if self.metric_lines else None

    @property
    def score(self) -> float:
        assert self.rc == 0, f"grading failed (rc {self.rc}):\n{self.stderr}"
        assert len(self.metric_lines) == 1, self.stdout
        return self.metrics["Score"]

    def assert_failed(self, *needles: str) -> None:
        assert self.rc != 0, f"grading should fail, got {self.stdout!r}"
        assert not self.metric_lines, self.stdout
        for needle in needles:
            assert needle in self.stderr, self.stderr


def make_workspace(root: Path, task: str, strategy: str | None = None) -> Path:
    ws = root / "workspace"
    ws.mkdir(parents=True)
    # The starter code, as the env copies it into the workspace.
    shutil.copy(REPO / "tasks" / task / "evaluate.py", ws / "evaluate.py")
    if strategy is None:
        shutil.copy(REPO / "tasks" / task / "strategy.py", ws / "strategy.py")
    else:
        (ws / "strategy.py").write_text(textwrap.dedent(strategy))
    return ws


def grade(
    task: str,
    ws: Path,
    seed: int | None = 7,
    python: str = sys.executable,
    grading_parent: Path | None = None,
) -> Result:
    """Grades `ws` exactly as the env does."""
    gdir = Path(tempfile.mkdtemp(prefix="grade-", dir=grading_parent))
    try:
        os.chmod(gdir, 0o700)
        shutil.copy(REPO / "tasks" / task / "evaluate.py", gdir / "evaluate.py")
        for secret in secret_files(task):
            shutil.copy(secret, gdir / secret.name)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "MLGYM_WORKSPACE": str(ws),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if seed is not None:
            env["MLGYM_GRADING_SEED"] = str(seed)
        nonce = secrets.token_hex(16)
        start = time.monotonic()
        proc = subprocess.run(
            [python, str(gdir / "evaluate.py")],
            cwd=ws,
            env=env,
            input=nonce + "\n",
            capture_output=True,
            text=True,
            timeout=300,
        )
        return Result(proc, nonce, time.monotonic() - start)
    finally:
        shutil.rmtree(gdir, ignore_errors=True)


# --------------------------------------------------------------------------- configs
@pytest.mark.parametrize("task", TASKS)
def test_config_lists_existing_files(task):
    text = config_text(task)
    assert f"id: {task}\n" in text
    assert "task_entrypoint: PythonSubmissionTasks" in text
    for rel in (f"tasks/{task}/strategy.py", f"tasks/{task}/evaluate.py"):
        assert f"  - {rel}\n" in text and (REPO / rel).is_file()
    names = [p.name for p in secret_files(task)]
    assert sorted(names) == ["gamegrader.py", "target.py"]
    assert all(p.is_file() for p in secret_files(task))
    # The description may only use {dataset_docs}; any other brace breaks str.format.
    description = text.split("description: |-\n", 1)[1].split("\ntask_entrypoint:", 1)[0]
    assert "{" not in description and "}" not in description
    for word in ("validate", "submit", "row_strategy(history)"):
        assert word in description


# --------------------------------------------------------------------------- starters
@pytest.mark.parametrize("task", TASKS)
def test_starter_is_deterministic_and_near_baseline(task, tmp_path):
    ws = make_workspace(tmp_path, task)
    first = grade(task, ws, seed=11)
    second = grade(task, ws, seed=11)
    assert first.score == second.score
    assert abs(first.score - recorded_baseline(task)) < TOLERANCE
    other = grade(task, ws, seed=12)
    assert other.score != first.score
    assert abs(other.score - recorded_baseline(task)) < TOLERANCE
    # Generous bound (about 1.3 s on a 2-core dev box for the slowest starter, blotto).
    assert first.elapsed < 20, first.elapsed


def test_unset_seed_uses_a_fixed_default(tmp_path):
    ws = make_workspace(tmp_path, "battleOfSexes")
    assert (
        grade("battleOfSexes", ws, seed=None).score == grade("battleOfSexes", ws, seed=None).score
    )


# --------------------------------------------------------------------------- better play
ALWAYS = """
def row_strategy(history):
    return {move}
"""


def test_prisoners_dilemma_defection_beats_cooperation(tmp_path):
    defect = grade(
        "prisonersDilemma",
        make_workspace(tmp_path / "d", "prisonersDilemma", ALWAYS.format(move=1)),
    )
    cooperate = grade(
        "prisonersDilemma",
        make_workspace(tmp_path / "c", "prisonersDilemma", ALWAYS.format(move=0)),
    )
    assert defect.score > cooperate.score
    assert defect.score > recorded_baseline("prisonersDilemma") + 0.1


def test_battle_of_sexes_insisting_beats_starter(tmp_path):
    result = grade(
        "battleOfSexes", make_workspace(tmp_path, "battleOfSexes", ALWAYS.format(move=0))
    )
    # Round 1 scores 0 (the opponent opens with 1); later rounds 2 * 0.8: 1.44 expected.
    assert abs(result.score - 1.44) < 0.03
    assert result.score > recorded_baseline("battleOfSexes") + 0.3


def test_blotto_concentration_beats_starter(tmp_path):
    result = grade(
        "blotto", make_workspace(tmp_path, "blotto", ALWAYS.format(move=[30, 30, 30, 30, 0, 0]))
    )
    assert result.score > 0.2 > recorded_baseline("blotto")


# --------------------------------------------------------------------------- cheats
def test_fake_metrics_and_exit_do_not_score(tmp_path):
    ws = make_workspace(
        tmp_path,
        "battleOfSexes",
        """
        import os, sys
        print('{"Score": 999}')
        print("MLGYM-METRICS deadbeef {\\"Score\\": 999}")
        sys.stdout.flush()
        os._exit(0)

        def row_strategy(history):
            return 0
    """,
    )
    result = grade("battleOfSexes", ws)
    result.assert_failed("stopped before the games were over")
    assert "999" not in result.stdout


def test_exit_in_the_middle_of_a_game_fails_cleanly(tmp_path):
    ws = make_workspace(
        tmp_path,
        "prisonersDilemma",
        """
        import os

        def row_strategy(history):
            if len(history) == 4:
                print('{"Score": 999}', flush=True)
                os._exit(0)
            return 1
    """,
    )
    result = grade("prisonersDilemma", ws)
    result.assert_failed("stopped before the games were over")
    assert "999" not in result.stdout


def test_prints_from_the_strategy_never_reach_stdout(tmp_path):
    ws = make_workspace(
        tmp_path,
        "battleOfSexes",
        """
        import sys

        def row_strategy(history):
            print('{"Score": 999}')
            print("MLGYM-METRICS 0000 {\\"Score\\": 999}", file=sys.stderr)
            return 0
    """,
    )
    honest = grade(
        "battleOfSexes", make_workspace(tmp_path / "h", "battleOfSexes", ALWAYS.format(move=0))
    )
    result = grade("battleOfSexes", ws)
    assert result.score == honest.score
    assert result.stdout.strip() == result.metric_lines[0]


SNOOP = """
    import json, os, sys

    found = {"env": sorted(k for k in os.environ if k.startswith("MLGYM")), "read": []}
    candidates = ["target.py", "gamegrader.py", os.path.join(os.getcwd(), "target.py")]
    for entry in sys.path:
        candidates.append(os.path.join(entry or ".", "target.py"))
    try:
        with open("/proc/%d/cmdline" % os.getppid(), "rb") as f:
            for arg in f.read().split(b"\\0"):
                if arg.endswith(b"evaluate.py"):
                    gdir = os.path.dirname(arg.decode())
                    candidates += [os.path.join(gdir, n) for n in ("target.py", "gamegrader.py")]
                    found["grading_dir"] = gdir
    except OSError:
        pass
    for path in candidates:
        try:
            with open(path) as f:
                f.read()
            found["read"].append(path)
        except OSError:
            pass
    try:
        with open("/proc/%d/environ" % os.getppid(), "rb") as f:
            found["parent_environ"] = b"MLGYM_GRADING_SEED" in f.read()
    except OSError:
        found["parent_environ"] = False
    # A forged line written straight to the grader's stdout (needs the nonce to count).
    try:
        with open("/proc/%d/fd/1" % os.getppid(), "w") as out:
            out.write('MLGYM-METRICS guessed {"Score": 999}\\n')
        found["wrote_parent_stdout"] = True
    except OSError:
        found["wrote_parent_stdout"] = False
    with open("snoop.json", "w") as f:
        json.dump(found, f)

    def row_strategy(history):
        return 1
"""


def test_opponent_and_seed_are_out_of_reach(tmp_path):
    ws = make_workspace(tmp_path, "prisonersDilemma", SNOOP)
    honest = grade(
        "prisonersDilemma",
        make_workspace(tmp_path / "h", "prisonersDilemma", ALWAYS.format(move=1)),
    )
    result = grade("prisonersDilemma", ws)
    assert result.score == honest.score  # the forged line, if any, lacks the nonce
    found = json.loads((ws / "snoop.json").read_text())
    assert found["read"] == [], found  # no target.py anywhere, not even in the grading dir
    assert found["env"] == [], found  # the worker does not see MLGYM_GRADING_SEED
    assert "grading_dir" in found  # the snooping itself worked
    if os.geteuid() != 0:  # root can read anything; see the next test for that case
        assert found["parent_environ"] is False
        assert found["wrote_parent_stdout"] is False


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_grading_as_root_runs_the_strategy_as_the_workspace_owner():
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        pytest.skip("no system python3")
    probe = subprocess.run(
        [python, "-c", "pass"], user=65534, group=65534, extra_groups=[], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("the system python3 cannot be run by an unprivileged user")
    root = Path(tempfile.mkdtemp(prefix="mlgym-games-"))
    try:
        os.chmod(root, 0o755)
        ws = make_workspace(root, "prisonersDilemma", SNOOP)
        for path in (ws, *ws.iterdir()):
            os.chown(path, 65534, 65534)
        private = root / "private"
        private.mkdir(mode=0o700)
        result = grade("prisonersDilemma", ws, python=python, grading_parent=private)
        assert result.score > 0
        found = json.loads((ws / "snoop.json").read_text())
        assert found["read"] == [] and found["env"] == []
        assert found["parent_environ"] is False
        assert found["wrote_parent_stdout"] is False
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_edited_workspace_evaluate_is_ignored(tmp_path):
    ws = make_workspace(tmp_path, "battleOfSexes")
    before = grade("battleOfSexes", ws).score
    (ws / "evaluate.py").write_text(
        "import sys\nn = sys.stdin.readline().strip()\n"
        "print('MLGYM-METRICS ' + n + ' {\"Score\": 999}')\n"
    )
    after = grade("battleOfSexes", ws)
    assert after.score == before


def test_protocol_garbage_fails(tmp_path):
    ws = make_workspace(
        tmp_path,
        "battleOfSexes",
        """
        import os, sys

        def row_strategy(history):
            os.write(int(sys.argv[2]), b'{"Score": 999}\\n')
            return 0
    """,
    )
    grade("battleOfSexes", ws).assert_failed("malformed reply")


@pytest.mark.parametrize(
    "task,move,needle",
    [
        ("battleOfSexes", "2", "invalid move"),
        ("battleOfSexes", "1.0", "invalid move"),
        ("prisonersDilemma", "None", "invalid move"),
        ("prisonersDilemma", "'defect'", "invalid move"),
        ("blotto", "[20, 20, 20, 20, 20, 21]", "at most 120"),
        ("blotto", "[24, 24, 24, 24, 24]", "list of 6"),
        ("blotto", "[-10, 30, 30, 30, 20, 20]", "non-negative"),
        ("blotto", "[20.0, 20, 20, 20, 20, 20]", "non-negative integer"),
        ("blotto", "object()", "invalid allocation"),
    ],
)
def test_invalid_moves_fail_clearly(task, move, needle, tmp_path):
    ws = make_workspace(tmp_path, task, ALWAYS.format(move=move))
    grade(task, ws).assert_failed(needle, "game 0, round 1")


def test_strategy_exception_is_reported(tmp_path):
    ws = make_workspace(
        tmp_path,
        "blotto",
        """
        def row_strategy(history):
            if len(history) == 3:
                raise RuntimeError("boom in round four")
            return [20] * 6
    """,
    )
    grade("blotto", ws).assert_failed("boom in round four", "round 4")


def test_missing_strategy_is_reported(tmp_path):
    ws = make_workspace(tmp_path, "battleOfSexes")
    (ws / "strategy.py").unlink()
    grade("battleOfSexes", ws).assert_failed("strategy.py not found")


# --------------------------------------------------------------------------- agent runs
@pytest.mark.parametrize("task", TASKS)
def test_running_evaluate_in_the_workspace_explains_validate(task, tmp_path):
    ws = make_workspace(tmp_path, task)
    proc = subprocess.run(
        [sys.executable, "evaluate.py"],
        cwd=ws,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "validate" in proc.stderr
    assert "MLGYM-METRICS" not in proc.stdout


def test_no_nonce_means_no_metrics(tmp_path):
    gdir = tmp_path / "g"
    gdir.mkdir()
    ws = make_workspace(tmp_path, "battleOfSexes")
    shutil.copy(REPO / "tasks" / "battleOfSexes" / "evaluate.py", gdir / "evaluate.py")
    for secret in secret_files("battleOfSexes"):
        shutil.copy(secret, gdir / secret.name)
    proc = subprocess.run(
        [sys.executable, str(gdir / "evaluate.py")],
        cwd=ws,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "MLGYM-METRICS" not in proc.stdout
    assert "nonce" in proc.stderr

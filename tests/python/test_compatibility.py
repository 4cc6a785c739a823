"""One test per deliberate difference from MLGym (docs/compatibility.md)."""

from __future__ import annotations

import time

import mlgym
import pytest
from conftest import descendant_pids, new_descendants


@pytest.fixture
def session(tmp_path):
    with mlgym.Session(tmp_path, timeout=20) as s:
        yield s


def test_blocklist_fires(session):
    for action, name in [("vim train.py", "vim"), ("python", "python"), ("nano", "nano")]:
        r = session.run(action)
        assert (
            r.observation == f"Interactive operation '{name}' is not supported by this environment"
        )
        assert r.exit_code is None
    assert session.run("python -c 'print(7)'").observation == "7"


def test_guard_keeps_preceding_text(session, tmp_path):
    (tmp_path / "f.txt").write_text("a\nb\n")
    r = session.run("echo before && open f.txt\nedit 1:1\nz\nend_of_edit")
    assert r.observation.startswith("before\n[File: ")
    assert (tmp_path / "f.txt").read_text() == "z\nb\n"


def test_long_timeout_words(tmp_path):
    with mlgym.Session(tmp_path, timeout=1, long_timeout=20) as s:
        t0 = time.perf_counter()
        r = s.run("cat python.txt 2>/dev/null; sleep 3")
        assert r.timed_out and time.perf_counter() - t0 < 2.9
        r = s.run("python3 -c 'import time; time.sleep(2); print(\"done\")'")
        assert not r.timed_out and r.observation == "done"
        r = s.run("pip --version >/dev/null; sleep 2; echo installed")
        assert not r.timed_out and r.observation == "installed"


def test_csv_submission_detection(fixture_root):
    env = mlgym.make("csvTask", config_root=fixture_root)
    env.reset(seed=0)
    obs = env.step("validate")[0]
    assert obs.startswith("Submission artefact not found.")
    env.step("printf 'value\\n2\\n4\\n' > submission.csv && chmod +x submission.csv")
    obs, _, _, _, info = env.step("validate")
    assert info["metrics"] == {"mean": 3.0}
    assert obs.endswith("Evaluation Score: {'mean': 3.0}")
    env.close()


def test_grading_timeout_kills_grader(fixture_root):
    before = descendant_pids()
    env = mlgym.make("csvTask", config_root=fixture_root)
    env.reset(seed=0)
    env.step("printf 'value\\nsleep\\n' > submission.csv")
    t0 = time.perf_counter()
    obs = env.step("validate")[0]
    assert time.perf_counter() - t0 < 10
    assert obs == "Error: Evaluation timed out after 3 seconds and was stopped."
    assert env.step("echo alive")[0] == "alive"
    env.close()
    time.sleep(0.2)
    assert new_descendants(before) == set()

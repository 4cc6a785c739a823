"""The env from the user's side, on a tiny test task (tests/python/fixtures/root)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import mlgym
import pytest
from conftest import descendant_pids, new_descendants


def make(fixture_root: Path, **kw):
    return mlgym.make("guessNumber", config_root=fixture_root, **kw)


def test_reset_observation_and_info(fixture_root):
    env = make(fixture_root)
    obs, info = env.reset(seed=3)
    assert obs.startswith("Write a number into answer.txt")
    assert "Use {braces} literally." in obs
    assert info["step"] == 0 and info["remaining_steps"] == 50
    assert info["state"]["open_file"] == "n/a"
    assert info["state"]["working_dir"] == env.workspace == "/home/agent/workspace"
    assert info["isolation"] == "sandbox" and env.isolation == "sandbox"
    assert info["baseline"] == {"Score": 2.0}
    assert info["primary_metric"] == "Score" and info["metric_direction"] == "maximize"
    assert info["failure"] is None and info["exit_status"] is None
    host_ws = Path(env.workspace_on_host)
    assert sorted(p.name for p in host_ws.iterdir()) == ["answer.txt", "evaluate.py"]
    env.close()


def test_validate_submit_and_final_reward(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step("validate")
    assert obs == (
        f"Your code produced a valid submission artefact at {env.workspace}/answer.txt.\n"
        "Baseline Score: {'Score': 2.0}\n"
        "Evaluation Score: {'Score': 2.0, 'SecretSeen': 1.0}"
    )
    assert reward == 0.0 and not term and not trunc
    assert info["metrics"]["Score"] == 2.0 and info["normalized_score"] == 0.0
    env.step("echo 5 > answer.txt")
    obs, reward, term, trunc, info = env.step("submit")
    assert obs == "Exited (submit)"
    assert term and not trunc
    assert info["exit_status"] == "submitted"
    assert reward == pytest.approx(1.5)  # (5 - 2) / 2
    assert [s["Score"] for s in info["scores"]] == [2.0, 5.0]
    with pytest.raises(mlgym.ResetNeededError):
        env.step("ls")
    env.close()


def test_secret_files_only_while_grading(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    secret = fixture_root / "tasks" / "guessNumber" / "secret.txt"
    assert secret.is_file()  # it exists on the host ...
    obs, *_ = env.step(f"ls -a; cat {secret}; ls {secret.parent}")
    assert "secret.txt" not in obs.replace(str(secret), "")  # ... but not for the shell
    assert "No such file or directory" in obs
    _, _, _, _, info = env.step("validate")
    assert info["metrics"]["SecretSeen"] == 1.0
    env.close()


def test_edited_grader_in_workspace_is_ignored(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    forged = 'print(\\"MLGYM-METRICS x {\\\\\\"Score\\\\\\": 99}\\")'
    env.step(f'chmod +w evaluate.py; echo "{forged}" > evaluate.py; cat evaluate.py')
    _, _, _, _, info = env.step("validate")
    assert info["metrics"]["Score"] == 2.0
    env.close()


def test_reward_modes(fixture_root):
    env = make(fixture_root, reward="improvement")
    env.reset(seed=0)
    env.step("echo 4 > answer.txt")
    assert env.step("validate")[1] == pytest.approx(1.0)
    env.step("echo 3 > answer.txt")
    assert env.step("validate")[1] == 0.0  # not a new best
    env.step("echo 6 > answer.txt")
    assert env.step("submit")[1] == pytest.approx(1.0)  # best went from 1.0 to 2.0
    env.close()

    env = make(fixture_root, reward="raw")
    env.reset(seed=0)
    env.step("echo 7 > answer.txt")
    assert env.step("submit")[1] == 7.0
    env.close()

    env = make(fixture_root, reward=lambda info: float(info["step"]))
    env.reset(seed=0)
    assert env.step("true")[1] == 1.0
    env.close()

    with pytest.raises(ValueError, match="unknown reward mode"):
        make(fixture_root, reward="bogus")


def test_failed_submission_gets_failure_reward(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    env.step("echo not-a-number > answer.txt")
    obs, reward, term, _, info = env.step("validate")
    assert obs.startswith("Failed to decode metrics from evaluation script. Output:\n---\n")
    assert "does not hold a number" in obs
    obs, reward, term, _, info = env.step("submit")
    assert term and reward == -1.0
    assert info["exit_status"] == "evaluation_format_error (submit)"
    assert info["failure"] == "agent"
    env.close()


def test_max_steps_truncates_with_autosubmission(fixture_root):
    env = make(fixture_root, max_steps=3)
    env.reset(seed=0)
    env.step("echo 4 > answer.txt")
    env.step("true")
    obs, reward, term, trunc, info = env.step("echo last")
    assert trunc and not term
    assert obs == "last\nExited (max_steps)"
    assert info["exit_status"] == "autosubmission (max_steps)"
    assert reward == pytest.approx(1.0)
    assert info["remaining_steps"] == 0
    env.close()


def test_special_actions(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    obs, reward, term, _, info = env.step("exit_cost")
    assert obs == "Exited (exit_cost)" and term
    assert info["exit_status"] == "autosubmission (exit_cost)"
    env.reset(seed=0)
    obs, reward, term, _, info = env.step("skip")
    assert obs == "Skipped" and term and info["exit_status"] == "skipped"
    env.close()


def test_warm_reset_restores_workspace(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    ws, host_ws = env.workspace, env.workspace_on_host
    env.step("echo 9 > answer.txt; touch junk.txt; cd /tmp; export FOO=1")
    obs, info = env.reset(seed=0)
    assert (env.workspace, env.workspace_on_host) == (ws, host_ws)
    assert sorted(p.name for p in Path(host_ws).iterdir()) == ["answer.txt", "evaluate.py"]
    assert Path(host_ws, "answer.txt").read_text() == "2\n"
    assert info["state"]["working_dir"] == ws
    assert env.step("echo x${FOO}x")[0] == "xx"
    env.close()


def test_timeout_and_recovery(fixture_root):
    before = descendant_pids()
    env = make(fixture_root, short_timeout=2)
    env.reset(seed=0)
    t0 = time.perf_counter()
    obs, _, _, _, info = env.step("sleep 100")
    took = time.perf_counter() - t0
    assert 1.5 < took < 10
    # Like MLGym: bash's own report of the killed job, then the timeout line.
    assert re.fullmatch(
        r"/bin/bash: line \d+: +\d+ Killed +sleep 100\n"
        r"EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 2 SECONDS\.",
        obs,
    ), obs
    assert info["failure"] == "timeout"
    assert env.step("echo ok")[0] == "ok"
    env.close()
    assert new_descendants(before) == set()


def test_bad_input(fixture_root):
    env = make(fixture_root)
    with pytest.raises(mlgym.ResetNeededError, match="before reset"):
        env.step("ls")
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(42)  # type: ignore[arg-type]
    assert "empty" in env.step("")[0]
    assert "NUL" in env.step("echo \x00")[0]
    obs = env.step("cat")[0]
    assert obs == ""
    obs = env.step("python")[0]
    assert obs == "Interactive operation 'python' is not supported by this environment"
    obs = env.step("head -c 50000000 /dev/zero | tr '\\0' a")[0]
    assert len(obs) < 60_000 and "observation truncated" in obs
    assert env.step("echo still-alive")[0] == "still-alive"
    env.close()
    env.close()  # idempotent
    with pytest.raises(mlgym.EnvClosedError):
        env.reset()


def test_unknown_task_lists_close_matches():
    with pytest.raises(mlgym.TaskNotFoundError, match="did you mean: battleOfSexes"):
        mlgym.make("battleOfSexe")
    with pytest.raises(mlgym.MLGymError):
        mlgym.make("definitelyNotATask")


def test_malformed_yaml_reports_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: [unclosed\ndescription: d\n")
    with pytest.raises(mlgym.TaskConfigError, match=r"bad.yaml:\d+:\d+"):
        mlgym.make(str(bad))
    missing = tmp_path / "missing.yaml"
    missing.write_text("id: x\nname: n\ndescription: d\nstarter_code: [nope.py]\n")
    with pytest.raises(mlgym.TaskConfigError, match="nope.py"):
        mlgym.make(str(missing))


def test_yaml_path_and_env_var_root(fixture_root, monkeypatch):
    env = mlgym.make(str(fixture_root / "configs/tasks/guessNumber.yaml"))
    assert env.task_id == "guessNumber"
    env.close()
    monkeypatch.setenv("MLGYM_CONFIG_ROOT", str(fixture_root))
    assert "guessNumber" in mlgym.list_tasks()
    assert mlgym.load_task("guessNumber")["metrics"][0]["name"] == "Score"


def test_close_leaves_no_process(fixture_root):
    before = descendant_pids()
    env = make(fixture_root)
    env.reset(seed=0)
    env.step("(sleep 300 &); setsid sleep 301 & true")
    env.close()
    time.sleep(0.2)
    assert new_descendants(before) == set()


def test_a_grading_key_makes_opponents_reproducible_across_envs():
    def validated(key: str | None) -> float:
        env = mlgym.make("battleOfSexes", grading_key=key)
        try:
            env.reset(seed=5)
            return env.step("validate")[4]["metrics"]["Score"]
        finally:
            env.close()

    first, again, other = validated("k1"), validated("k1"), validated("k2")
    assert first == again
    assert first != other  # another key, other draws (a tie over 100,000 rounds is ~0)
    with pytest.raises(mlgym.InvalidArgumentError, match="grading_key"):
        mlgym.make("battleOfSexes", grading_key="not a key!")

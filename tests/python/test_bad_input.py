"""Bad arguments to the API raise a clear mlgym error and leave nothing behind."""

from __future__ import annotations

import math
from pathlib import Path

import mlgym
import pytest


def make(fixture_root: Path, **kw):
    return mlgym.make("guessNumber", config_root=fixture_root, **kw)


@pytest.mark.parametrize(
    "name",
    ["X=1; touch pwned", "X Y", "1X", "", "A-B", "$(touch pwned)", "__mlgym_cmd", "PPID"],
)
def test_env_var_names_are_validated(fixture_root, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mlgym.InvalidArgumentError, match="env_vars"):
        make(fixture_root, env_vars={name: "1"}).reset(seed=0)
    assert not (tmp_path / "pwned").exists()


def test_env_var_values_are_quoted(fixture_root):
    value = "a'b\"; touch pwned; $(touch pwned2) `x` \\ \n end"
    env = make(fixture_root, env_vars={"MY_VAR": value})
    env.reset(seed=0)
    assert env.step('printf "%s" "$MY_VAR"')[0] == value
    assert env.step("ls pwned pwned2 2>&1 | wc -l")[0] == "2"  # two "No such file" lines
    env.close()


def test_lone_surrogates_and_non_strings_are_refused_without_a_step(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    for action in ["echo \udc80", "\ud800", None, b"echo hi", 42]:
        with pytest.raises(mlgym.InvalidActionError):
            env.step(action)  # type: ignore[arg-type]
    obs, _, _, _, info = env.step("echo ok")
    assert obs == "ok" and info["step"] == 1
    env.close()


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"max_steps": -1}, "max_steps"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": 2**40}, "max_steps"),
        ({"max_steps": 1.5}, "max_steps"),
        ({"observation_limit": -1}, "observation_limit"),
        ({"observation_limit": 2**70}, "observation_limit"),
        ({"short_timeout": 0}, "short_timeout"),
        ({"short_timeout": -3}, "short_timeout"),
        ({"long_timeout": math.nan}, "long_timeout"),
        ({"no_output_timeout": math.inf}, "no_output_timeout"),
        ({"short_timeout": 10**400}, "short_timeout"),
        ({"cpus": -1.0}, "cpus"),
        ({"pids_limit": -5}, "pids_limit"),
        ({"pids_limit": 2**64}, "pids_limit"),
        ({"gpus": -1}, "gpus"),
        ({"gpu_wait": math.nan}, "gpu_wait"),
    ],
)
def test_numbers_out_of_range_name_the_argument(fixture_root, kw, name):
    with pytest.raises(mlgym.InvalidArgumentError, match=name):
        make(fixture_root, **kw)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "3", True])
def test_bad_seeds(fixture_root, seed):
    env = make(fixture_root)
    with pytest.raises(mlgym.InvalidArgumentError, match="seed"):
        env.reset(seed=seed)
    env.reset(seed=2**64 - 1)
    env.close()


def test_bad_reset_options(fixture_root):
    env = make(fixture_root)
    with pytest.raises(mlgym.InvalidArgumentError, match="options"):
        env.reset(seed=0, options=[1, 2])  # type: ignore[arg-type]
    env.close()


@pytest.mark.parametrize(
    "task", ["../../etc/passwd", "/etc/passwd", "tasks/../../x", "a\\b", "..", "", "x\x00y"]
)
def test_task_ids_are_not_paths(task):
    with pytest.raises(mlgym.TaskNotFoundError) as err:
        mlgym.make(task)
    assert "root:" not in str(err.value)


def test_a_yaml_that_is_not_a_task_is_not_echoed(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("root:x:0:0:top-secret-text:/root:/bin/bash\n")
    with pytest.raises(mlgym.TaskConfigError) as err:
        mlgym.make(str(path))
    assert "top-secret-text" not in str(err.value)
    path.write_text('"top-secret-text"\n')
    with pytest.raises(mlgym.TaskConfigError) as err:
        mlgym.make(str(path))
    assert "top-secret-text" not in str(err.value)


def test_task_must_be_text():
    with pytest.raises(mlgym.InvalidArgumentError, match="task"):
        mlgym.make(None)  # type: ignore[arg-type]


def test_huge_and_nul_actions_do_not_break_the_env(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    assert "NUL" in env.step("echo a\x00b")[0]
    obs = env.step("# " + "x" * (20 << 20))[0]
    assert obs == ""
    assert env.step("echo ok")[0] == "ok"
    env.close()


def test_session_env_names_are_validated(tmp_path):
    with pytest.raises(mlgym.InvalidArgumentError, match="env_vars"):
        mlgym.Session(tmp_path / "ws", env={"X=1; touch pwned": "1"})
    assert not list(tmp_path.rglob("pwned"))

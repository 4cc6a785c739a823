"""The core's public surface from Python: task facts, defaults, errors, the reward
wrapper and the null task."""

from __future__ import annotations

import ast
import inspect
import os
import sys
from pathlib import Path

import gymnasium as gym
import mlgym
import pytest
from mlgym import _core
from mlgym.wrappers import InfoReward

STUB = Path(mlgym.__file__).with_name("_core.pyi")


def test_task_info_names_the_primary_metric_and_its_source():
    info = mlgym.task_info("battleOfSexes")
    assert info["primary_metric"] == {"name": "Score", "direction": "maximize", "source": "yaml"}
    assert info["id"] == "battleOfSexes"
    assert info["entrypoint"] == "PythonSubmissionTasks"
    assert info["baseline"] == info["baseline_scores"][0]["Score"]
    assert Path(info["yaml_path"]).is_file()
    assert (Path(info["root"]) / info["starter_code"][0]).is_file()
    assert info["training_timeout"] == 1800
    assert "target.py" in " ".join(info["secret_files"])
    with pytest.raises(mlgym.TaskNotFoundError, match="did you mean"):
        mlgym.task_info("battleOfSexe")


def test_task_metric_prefers_the_yaml_then_mlgyms_table(tmp_path):
    (tmp_path / "configs" / "tasks").mkdir(parents=True)
    (tmp_path / "configs" / "tasks" / "mine.yaml").write_text(
        "id: 3SATTime\nname: Mine\ndescription: d\n"
        "metrics:\n  - name: solved\n    direction: maximize\n    primary: true\n"
    )
    mine = mlgym.task_metric("3SATTime", config_root=tmp_path)
    assert (mine["metric"], mine["direction"], mine["source"]) == ("solved", "maximize", "yaml")
    table = mlgym.task_metric("3SATTime")
    assert (table["metric"], table["direction"], table["source"]) == ("Time", "minimize", "mlgym")
    assert mlgym.task_metric("noSuchTaskAnywhere") is None
    bench = mlgym.mlgym_bench_tasks()
    assert len(bench) == 13
    assert bench[0]["task_id"] == "regressionKaggleHousePrice"
    assert bench[5] == {
        "task_id": "languageModelingFineWeb",
        "display_name": "Language Modeling",
        "metric": "val_loss",
        "direction": "minimize",
    }


def test_exit_actions_come_from_the_core():
    assert set(mlgym.EXIT_ACTIONS) >= {"exit_context", "exit_cost", "exit_forfeit", "skip"}
    assert "submit" not in mlgym.EXIT_ACTIONS


def _stub_defaults(cls: str) -> dict[str, object]:
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            init = next(n for n in node.body if getattr(n, "name", "") == "__init__")
            args = init.args.kwonlyargs
            return {
                a.arg: ast.literal_eval(d)
                for a, d in zip(args, init.args.kw_defaults, strict=True)
                if d is not None and not (isinstance(d, ast.Constant) and d.value is ...)
            }
    raise AssertionError(f"{cls} not in the stub")


def _stub_kwonly(cls: str) -> list[str]:
    tree = ast.parse(STUB.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    init = next(n for n in node.body if getattr(n, "name", "") == "__init__")
    return [a.arg for a in init.args.kwonlyargs]


def test_stub_signature_matches_the_core():
    stub = _stub_defaults("Env")
    for key, value in _core.ENV_DEFAULTS.items():
        assert stub[key] == value, key
    # The stub lists exactly the real keywords, and its literal defaults are the real ones.
    real = inspect.signature(_core.Env).parameters
    stub_names = set(_stub_kwonly("Env"))
    assert stub_names == {n for n, p in real.items() if p.kind is p.KEYWORD_ONLY}
    for name, value in stub.items():
        if real[name].default is not Ellipsis:
            assert real[name].default == value, name
    params = inspect.signature(mlgym.MLGymEnv).parameters
    assert params["max_steps"].default == _core.ENV_DEFAULTS["max_steps"]
    assert params["failure_reward"].default == _core.ENV_DEFAULTS["failure_reward"]
    assert params["observation_limit"].default == _core.ENV_DEFAULTS["observation_limit"]
    assert params["isolation"].default == _core.ENV_DEFAULTS["isolation"] == "sandbox"


def test_every_exception_is_an_mlgym_error_in_module_mlgym():
    classes = [
        getattr(mlgym.errors, name)
        for name in mlgym.errors.__all__
        if isinstance(getattr(mlgym.errors, name), type)
    ]
    assert len(classes) > 10
    for cls in classes:
        assert issubclass(cls, mlgym.MLGymError), cls
        assert cls.__module__ == "mlgym", cls
        assert getattr(mlgym, cls.__name__, cls) is cls


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"short_timeout": -1.0}, "short_timeout"),
        ({"reward": "bogus"}, "reward mode"),
        ({"backend": "lxc"}, "backend"),
        ({"backend": "docker", "memory": "lots"}, "memory"),
        ({"backend": "docker", "cpus": 0.0}, "cpus"),
        ({"workspace": "/tmp/x", "backend": "docker"}, "workspace"),
    ],
)
def test_bad_arguments_are_invalid_argument_errors(kwargs, match):
    with pytest.raises(mlgym.InvalidArgumentError, match=match) as err:
        mlgym.make("battleOfSexes", **kwargs)
    assert isinstance(err.value, ValueError)


def test_a_reward_callable_becomes_a_wrapper():
    env = mlgym.make("null", reward=lambda info: 10.0 * info["step"])
    assert isinstance(env, InfoReward)
    assert isinstance(env.unwrapped, mlgym.MLGymEnv)
    env.reset(seed=0)
    assert env.step("true")[1] == 10.0
    assert env.step("true")[1] == 20.0
    env.close()
    with pytest.raises(mlgym.InvalidArgumentError, match="InfoReward"):
        mlgym.MLGymEnv("null", reward=lambda info: 0.0)  # type: ignore[arg-type]
    wrapped = gym.make("mlgym/null", reward=lambda info: -1.0)
    wrapped.reset(seed=0)
    assert wrapped.step("true")[1] == -1.0
    wrapped.close()


def test_null_task_runs_the_whole_engine():
    env = mlgym.make("null", max_steps=5)
    obs, info = env.reset(seed=1)
    assert "answer.txt" in obs
    assert info["primary_metric"] == "Score"
    obs, reward, *_ = env.step("validate")
    assert "Evaluation Score: {'Score': 0.0}" in obs
    env.step("echo 2.5 > answer.txt")
    obs, reward, terminated, truncated, info = env.step("submit")
    assert terminated and not truncated
    assert info["metrics"] == {"Score": 2.5}
    assert reward == 2.5  # baseline 0: the plain difference
    assert info["exit_status"] == "submitted"
    assert env.episode == 1 and env.last_elapsed > 0
    env.reset(seed=1)
    env.step("echo not-a-number > answer.txt")
    obs, reward, terminated, _, info = env.step("submit")
    assert info["exit_status"] == "evaluation_format_error (submit)"
    assert info["failure"] == "agent" and reward == -1.0
    env.close()


def test_gpu_request_is_checked_before_anything_starts(monkeypatch):
    monkeypatch.setenv("MLGYM_GPUS", "")
    with pytest.raises(mlgym.GpuUnavailableError):
        mlgym.make("null", gpus=1)
    with pytest.raises(mlgym.InvalidArgumentError):
        mlgym.make("null", gpus=True)


def test_local_agent_environment_keeps_host_secrets_out(monkeypatch):
    monkeypatch.setenv("MLGYM_TEST_SECRET_TOKEN", "s3cret")
    env = mlgym.make("null", process_env={"ASKED_FOR": "yes"})
    env.reset(seed=0)
    obs = env.step("env")[0]
    env.close()
    assert "ASKED_FOR=yes" in obs
    assert "s3cret" not in obs
    assert f"PATH={os.path.dirname(sys.executable)}:" in obs

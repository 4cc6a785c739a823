"""`mlgym run`, `mlgym export` and `python -m mlgym`: flags, devices, outputs, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlgym
import pytest
from conftest import QUICK_START, descendant_pids
from mlgym.agent import Agent, LiteLLMModel, ReplayModel, exit_for_error
from mlgym.agent import cli as agent_cli
from mlgym.agent.devices import assign_devices, device_kwargs
from mlgym.agent.parsing import fence
from mlgym.cli import main as mlgym_main
from mlgym.errors import RunConfigError
from mlgym.runs import run_name
from runner_support import (
    CORPUS,
    EXAMPLE,
    FIXTURE_ROOT,
    GAME_TASKS,
    corpus_or_skip,
    default_config,
    game_tasks_or_skip,
)

# --------------------------------------------------------------------------- CLI


def parse_run(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    agent_cli.add_parser(sub)
    return parser.parse_args(["run", *argv])


def test_quick_start_flags_parse_with_abbreviations():
    args = parse_run(QUICK_START)
    assert args.model_name == "litellm:claude-3-5-sonnet-20240620"
    assert args.temperature == 1.0 and args.top_p == 0.95 and args.gpus == [0]
    assert args.per_instance_cost_limit == 4.0 and args.max_steps == 50
    assert args.container_type == "docker" and args.gpus_per_agent == 0
    name = run_name(
        args.model_name,
        "battleOfSexes",
        "default",
        args.temperature,
        args.top_p,
        args.per_instance_cost_limit,
        args.suffix,
    )
    assert name + "_run_0" == (
        "litellm-claude-3-5-sonnet-20240620__battleOfSexes__default__t-1.00__p-0.95"
        "__c-4.00__install-0_run_0"
    )
    assert run_name("m", "t", "d", 0, 0.95, 4, "parallel_agents").endswith(
        "__install-0__parallel_agents"
    )
    args = parse_run(
        [
            "--noverbose",
            "--memory_enabled",
            "False",
            "--skip_existing",
            "--completion_kwargs",
            '{"max_tokens": 5}',
            "--stop",
            "A",
            "B",
            "--training_timeout",
            "5",
            "--baseline_scores",
            '[{"Score": 1}]',
        ]
    )
    assert args.verbose is False and args.memory_enabled is False and args.skip_existing
    assert args.completion_kwargs == {"max_tokens": 5} and args.stop == ["A", "B"]
    assert args.training_timeout == 5 and args.baseline_scores == [{"Score": 1}]
    with pytest.raises(SystemExit):
        parse_run(["--completion_kwargs", "[1, 2]"])


def test_gpu_assignment_follows_mlgym(monkeypatch, tmp_path):
    assert assign_devices([0], 0, 2) == [["cpu_0"], ["cpu_1"]]
    assert assign_devices([0, 1, 2, 3], 2, 2) == [["0", "1"], ["2", "3"]]
    with pytest.raises(mlgym.GpuUnavailableError) as err:
        assign_devices([0], 1, 2)
    assert str(err.value) == "Not enough GPUs available. Required: 2, Available: 1"
    with pytest.raises(RunConfigError):
        assign_devices([], 0, 0)
    # Without --gpus: the GPUs a lease can have now (MLGYM_GPUS, minus other leases).
    monkeypatch.setenv("MLGYM_GPUS", "0,1,2")
    monkeypatch.setenv("MLGYM_GPU_LOCK_DIR", str(tmp_path / "locks"))
    with mlgym.acquire_gpus(ids=["0"]):
        assert assign_devices([], 1, 2) == [["1"], ["2"]]
        with pytest.raises(mlgym.GpuUnavailableError) as err:
            assign_devices([], 1, 3)
        assert str(err.value) == "Not enough GPUs available. Required: 3, Available: 2"
    assert assign_devices([], 1, 3) == [["0"], ["1"], ["2"]]
    assert device_kwargs(["1", "2"]) == {"gpus": ["1", "2"]}
    assert device_kwargs(["cpu_0"]) == {}


def test_cli_errors_are_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["run", "--task_config_path", "guessNumber", "--config_root", str(FIXTURE_ROOT)]
    assert mlgym_main([*base, "--model", "replay"]) == 2
    assert "--replay_path" in capsys.readouterr().err
    assert mlgym_main([*base, "--model", "gpt"]) == 2
    assert "Invalid model name" in capsys.readouterr().err
    assert (
        mlgym_main(
            [
                *base,
                "--model",
                "submit_baseline",
                "--gpus_per_agent",
                "1",
                "--num_agents",
                "2",
                "--gpus",
                "0",
            ]
        )
        == 2
    )
    assert "Not enough GPUs available. Required: 2, Available: 1" in capsys.readouterr().err
    assert (
        mlgym_main(["run", "--task_config_path", "noSuchTask", "--model", "submit_baseline"]) == 2
    )
    assert "noSuchTask" in capsys.readouterr().err
    assert mlgym_main([*base, "--model", "submit_baseline", "--benchmark", "x"]) == 2
    assert "--benchmark" in capsys.readouterr().err
    rc = mlgym_main([*base, "--model", "submit_baseline", "--container_type", "docker"])
    if rc == 2:
        assert "not available" in capsys.readouterr().err
    assert not (tmp_path / "trajectories").exists() or rc == 0


def test_cli_outputs_overrides_dotenv_and_skip_existing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLGYM_CONFIG_ROOT", raising=False)
    # .env is read before settings: the task id only resolves through MLGYM_CONFIG_ROOT.
    (tmp_path / ".env").write_text(
        f"# settings\nexport MLGYM_CONFIG_ROOT='{FIXTURE_ROOT}'\nMLGYM_TEST_VALUE=1 # note\n"
    )
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"x": [fence("echo 7 > answer.txt"), fence("submit")]}) + "\n")
    argv = [
        "run",
        "--task_config_path",
        "guessNumber",
        "--model",
        "replay",
        "--replay_path",
        str(replay),
        "--training_timeout",
        "7",
        "--suffix",
        "mine",
        "--noverbose",
    ]
    assert mlgym_main(argv) == 0
    assert os.environ["MLGYM_TEST_VALUE"] == "1"
    (run_dir,) = tmp_path.glob("trajectories/*/*")
    assert run_dir.name == (
        "replay__guessNumber__default__t-0.00__p-0.95__c-3.00__install-0__mine_run_0"
    )
    files = sorted(p.name for p in run_dir.iterdir())
    assert files[:3] == ["args.yaml", "guessNumber.traj", "results.json"]
    assert files[3].startswith("run-") and files[3].endswith(".log")
    import yaml

    args = yaml.safe_load((run_dir / "args.yaml").read_text())
    assert args["environment"]["task"]["training_timeout"] == 7
    assert args["agent"]["model"]["model_name"] == "replay"
    results = json.loads((run_dir / "results.json").read_text())
    assert results == {"agent": [{"Score": 7.0, "SecretSeen": 1.0}], "baseline": {"Score": 2.0}}
    assert "STEP 1" in (run_dir / files[3]).read_text()
    mtime = (run_dir / "guessNumber.traj").stat().st_mtime
    time.sleep(0.05)
    assert mlgym_main([*argv, "--skip_existing"]) == 0
    assert (run_dir / "guessNumber.traj").stat().st_mtime == mtime
    monkeypatch.delenv("MLGYM_TEST_VALUE")


def test_parallel_agents_get_their_own_runs_and_logs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    replay = tmp_path / "r.jsonl"
    replay.write_text(
        json.dumps({"a": [fence("echo 3 > answer.txt && submit")]})
        + "\n"
        + json.dumps({"b": [fence("echo 4 > answer.txt && submit")]})
        + "\n"
    )
    before = descendant_pids()
    rc = mlgym_main(
        [
            "run",
            "--task_config_path",
            "guessNumber",
            "--config_root",
            str(FIXTURE_ROOT),
            "--model",
            "replay",
            "--replay_path",
            str(replay),
            "--num_agents",
            "2",
            "--noverbose",
        ]
    )
    assert rc == 0
    runs = sorted(tmp_path.glob("trajectories/*/*_run_*"))
    assert [r.name[-6:] for r in runs] == ["_run_0", "_run_1"]
    scores = [json.loads((r / "results.json").read_text())["agent"][-1]["Score"] for r in runs]
    assert scores == [3.0, 4.0]  # agent i replays line i
    for i, r in enumerate(runs):
        (log,) = r.glob("run-*.log")
        text = log.read_text()
        assert f"agent {i}" in text and f"agent {1 - i}" not in text
        history = json.loads((r / "guessNumber.traj").read_text())["history"]
        assert {h["agent"] for h in history} == {f"primary_{i}"}
    assert descendant_pids() <= before


def test_quick_start_with_replay_submits(tmp_path, monkeypatch):
    game_tasks_or_skip("battleOfSexes")
    monkeypatch.chdir(tmp_path)
    argv = list(QUICK_START)
    argv[argv.index("docker")] = "local"
    argv[argv.index("litellm:claude-3-5-sonnet-20240620")] = "replay"
    argv += ["--replay_path", str(EXAMPLE)]
    rc = mlgym_main(["run", *argv])
    assert rc == 0
    (traj,) = tmp_path.glob(
        "trajectories/*/replay__battleOfSexes__default__t-1.00__p-0.95__c-4.00__install-0_run_0"
        "/battleOfSexes.traj"
    )
    data = json.loads(traj.read_text())
    assert data["info"]["exit_status"] == "submitted"
    assert data["trajectory"][-1]["action"] == "submit\n"
    assert data["info"]["score"][-1]["Score"] > 1.3  # well above the 1.02 baseline


def test_example_trajectory_is_an_mlgym_traj():
    data = json.loads(EXAMPLE.read_text())
    assert list(data) == ["environment", "trajectory", "history", "info"]
    assert data["info"]["exit_status"] == "submitted"
    assert data["trajectory"][-1]["action"].strip() == "submit"


def corpus_game_trajectories() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for t in GAME_TASKS for p in CORPUS.glob(f"*/{t}.traj"))


def episode_leftovers(owner_pids: set[int]) -> list[str]:
    """What local episodes of the given (finished) `mlgym run` processes left behind.

    A process that escaped its owner is reparented away from this test, so it is looked
    for everywhere: any live process whose cwd or command line is inside one of their
    episode directories, and the episode directories and leak-registry entries
    themselves (named `<owner pid>-...`).
    """
    base = Path(tempfile.gettempdir()) / f"mlgym-{os.getuid()}"
    prefixes = tuple(f"{pid}-" for pid in owner_pids)
    left = [
        str(p)
        for sub in ("episodes", "live")
        for p in (base / sub).glob("*")
        if p.name.startswith(prefixes)
    ]
    markers = tuple(str(base / "episodes" / prefix) for prefix in prefixes)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(m in cwd or m in cmd for m in markers):
            left.append(f"process {entry}: {cmd.strip()} (cwd {cwd})")
    return left


def test_corpus_replays_end_with_an_exit_status(tmp_path):
    """Every game trajectory of the corpus, replayed in full through `mlgym run`.

    Runs the CLI as separate processes (a few at a time), with the corpus's own step
    limit (50). `--training_timeout 60` bounds each evaluation: one recording, replayed on
    our files, writes a strategy that never returns (its MLGym run hit a grader timeout
    too), which would otherwise wait for the grader's 600 s limit.
    """
    corpus_or_skip()
    game_tasks_or_skip(*GAME_TASKS)
    trajs = corpus_game_trajectories()
    assert len(trajs) == 36  # 3 games x 3 models x 4 runs
    before = descendant_pids()

    def replay(i: int, traj: Path) -> tuple[int, subprocess.CompletedProcess[str]]:
        argv = [
            sys.executable,
            "-m",
            "mlgym.cli",
            "run",
            "--task_config_path",
            f"tasks/{traj.stem}.yaml",
            "--model",
            "replay",
            "--replay_path",
            str(traj),
            "--max_steps",
            "50",
            "--training_timeout",
            "60",
            "--suffix",
            f"r{i}",
            "--noverbose",
        ]
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        out, err = proc.communicate(timeout=900)
        return proc.pid, subprocess.CompletedProcess(argv, proc.returncode, out, err)

    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(replay, range(len(trajs)), trajs))
    statuses: dict[str, str] = {}
    for i, (traj, (_, proc)) in enumerate(zip(trajs, done, strict=True)):
        assert proc.returncode == 0, (traj, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (traj, proc.stderr[-2000:])
        task = traj.stem
        (out,) = tmp_path.glob(f"trajectories/*/replay__{task}__*__r{i}_run_0/{task}.traj")
        data = json.loads(out.read_text())
        recorded = json.loads(traj.read_text())["trajectory"]
        status = data["info"]["exit_status"]
        assert status, traj
        # The whole recording is replayed (plus a closing `submit` if it has none).
        assert min(len(recorded), 50) <= len(data["trajectory"]) <= min(len(recorded) + 1, 50)
        statuses[traj.parent.name] = status
        results = json.loads((out.parent / "results.json").read_text())
        assert results["agent"] == data["info"]["score"] and "baseline" in results
    assert len(statuses) == 36
    assert set(statuses.values()) <= {
        "submitted",
        "autosubmission (max_steps)",
        "evaluation_format_error (max_steps)",
        "evaluation_format_error (submit)",
        "autosubmission (exit_context)",
        "autosubmission (exit_format)",
        "evaluation_format_error (exit_format)",
    }, statuses
    assert "submitted" in statuses.values()
    assert descendant_pids() <= before
    assert episode_leftovers({pid for pid, _ in done}) == []


# --------------------------------------------------------------------------- export


def test_export_atif(tmp_path, capsys):
    corpus = corpus_or_skip()
    traj = next(iter(sorted(corpus.glob("*/prisonersDilemma.traj"))))
    out = tmp_path / "doc.json"
    assert mlgym_main(["export", "--format", "atif", str(traj), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    data = json.loads(traj.read_text())
    assert doc["schema_version"].startswith("ATIF-v1.")
    assert doc["agent"]["name"] == "mlgym-rs"
    assert [s["step_id"] for s in doc["steps"]] == list(range(1, len(doc["steps"]) + 1))
    assert [s["source"] for s in doc["steps"][:2]] == ["system", "user"]
    agent_steps = doc["steps"][2:]
    assert len(agent_steps) == len(data["trajectory"])
    first = agent_steps[0]
    call = first["tool_calls"][0]
    assert call["function_name"] == "bash"
    assert call["arguments"]["command"] == data["trajectory"][0]["action"]
    assert first["observation"]["results"][0]["source_call_id"] == call["tool_call_id"]
    stats = data["info"]["model_stats"]
    assert doc["final_metrics"]["total_prompt_tokens"] == stats["tokens_sent"]
    assert doc["extra"]["exit_status"] == data["info"]["exit_status"]
    assert mlgym_main(["export", str(tmp_path / "nothing")]) == 2
    capsys.readouterr()


def test_agent_api_with_gymnasium_make(tmp_path):
    import gymnasium

    game_tasks_or_skip("battleOfSexes")
    env = gymnasium.make("mlgym/battleOfSexes", max_steps=4)
    agent = Agent(default_config(), ReplayModel(EXAMPLE))
    result = agent.run(env, seed=1, traj_path=tmp_path / "g.traj")
    env.close()
    assert result.exit_status == "autosubmission (max_steps)"
    assert result.reward > 0.3  # normalised: (1.44 - 1.02) / 1.02


# --------------------------------------------------------------------------- mlgym command


def test_python_dash_m_mlgym_is_the_mlgym_command(tmp_path):
    env = {**os.environ, "MLGYM_CONFIG_ROOT": str(FIXTURE_ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "mlgym", "tasks"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert "guessNumber" in out and out == mlgym.list_tasks(FIXTURE_ROOT)
    helped = subprocess.run(
        [sys.executable, "-m", "mlgym", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert helped.returncode == 0
    for command in ("tasks", "gc", "bench", "score", "run", "export", "view"):
        assert command in helped.stdout


def test_a_subcommand_that_does_not_import_fails_loudly(tmp_path):
    broken = tmp_path / "broken"
    (broken / "mlgym_broken").mkdir(parents=True)
    (broken / "mlgym_broken" / "__init__.py").write_text("import no_such_module_here\n")
    code = (
        "import sys, mlgym.cli as c; "
        "c._SUBCOMMANDS = (*c._SUBCOMMANDS, 'mlgym_broken'); "
        "sys.exit(c.main(['tasks']))"
    )
    env = {**os.environ, "PYTHONPATH": f"{broken}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert res.returncode != 0
    assert "ModuleNotFoundError" in res.stderr and "no_such_module_here" in res.stderr


# --------------------------------------------------------------------------- errors, settings


def _package_exception_classes() -> dict[type, str]:
    import importlib
    import pkgutil

    found: dict[type, str] = {}
    modules = ["mlgym"] + [
        m.name for m in pkgutil.walk_packages(mlgym.__path__, "mlgym.") if "._bundled" not in m.name
    ]
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException):
                defined_here = value.__module__ in (name, "mlgym", "_core", "mlgym._core")
                if defined_here:
                    found.setdefault(value, name)
    return found


def test_every_exception_of_the_package_is_an_mlgym_error():
    from mlgym import _core, errors

    classes = _package_exception_classes()
    names = {cls.__name__ for cls in classes}
    # The walk sees every layer: core, agent, scoring, viewer, settings.
    assert {"TaskNotFoundError", "AgentError", "ScoringError", "ViewerError"} <= names
    assert {"SettingsError", "FormatError", "RunConfigError", "TrajectoryError"} <= names
    for cls, where in classes.items():
        assert issubclass(cls, errors.MLGymError), f"{cls.__name__} (in {where})"
        if cls.__name__.startswith("_"):
            continue
        assert getattr(errors, cls.__name__) is cls, f"{cls.__name__} not in mlgym.errors"
        if getattr(_core, cls.__name__, None) is not cls:
            assert cls.__module__ == "mlgym", f"{cls.__name__}.__module__ == {cls.__module__}"
    for cls in (
        errors.AgentConfigError,
        errors.RunConfigError,
        errors.ExportError,
        errors.SettingsError,
        errors.ScoringError,
        errors.TrajectoryError,
    ):
        assert issubclass(cls, ValueError), cls.__name__
    assert issubclass(errors.ModelRuntimeError, RuntimeError)  # exit_error, as MLGym
    assert exit_for_error(errors.ModelRuntimeError("x"))[1] == "exit_error"


def test_settings_read_the_environment_when_called(monkeypatch):
    import logging

    from mlgym import settings
    from mlgym.errors import SettingsError

    for name in (
        "MLGYM_MAX_THREADS",
        "MLGYM_AGENT_LONG_TIMEOUT",
        "MLGYM_MODEL_MAX_RETRIES",
        "MLGYM_MODEL_RETRY_MIN_WAIT",
        "MLGYM_MODEL_RETRY_MAX_WAIT",
        "MLGYM_LOG_STREAM_LEVEL",
        "MLGYM_LOG_FILE_LEVEL",
        "MLGYM_CONFIG_ROOT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert settings.max_threads() == 1024
    assert settings.agent_long_timeout() == 3600
    assert settings.model_max_retries() == 10
    assert settings.model_retry_wait() == (60.0, 180.0)
    assert settings.log_stream_level() == logging.INFO
    assert settings.log_file_level() == logging.DEBUG
    assert settings.config_root_env() == []
    monkeypatch.setenv("MLGYM_MAX_THREADS", "8")
    monkeypatch.setenv("MLGYM_MODEL_RETRY_MIN_WAIT", "0.5")
    monkeypatch.setenv("MLGYM_LOG_STREAM_LEVEL", "warning")
    monkeypatch.setenv("MLGYM_LOG_FILE_LEVEL", "15")
    monkeypatch.setenv("MLGYM_CONFIG_ROOT", f"{FIXTURE_ROOT}{os.pathsep}{FIXTURE_ROOT}/x")
    assert settings.max_threads() == 8
    assert settings.model_retry_wait() == (0.5, 180.0)
    assert settings.log_stream_level() == logging.WARNING
    assert settings.log_file_level() == 15
    assert settings.config_root_env() == [FIXTURE_ROOT.resolve(), (FIXTURE_ROOT / "x").resolve()]
    from mlgym._paths import config_roots

    assert config_roots()[:2] == settings.config_root_env()
    monkeypatch.setenv("MLGYM_MAX_THREADS", "lots")
    with pytest.raises(SettingsError, match="MLGYM_MAX_THREADS"):
        settings.max_threads()
    monkeypatch.setenv("MLGYM_MODEL_MAX_RETRIES", "-1")
    with pytest.raises(SettingsError, match="at least 0"):
        settings.model_max_retries()
    monkeypatch.setenv("MLGYM_MODEL_MAX_RETRIES", "3")
    model = LiteLLMModel("litellm:fake-model", module=types.SimpleNamespace(model_cost={}))
    assert (model.max_retries, model.retry_wait) == (3, (0.5, 180.0))

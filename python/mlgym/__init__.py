"""mlgym: ML research tasks as Gymnasium environments for AI research agents.

>>> import mlgym
>>> env = mlgym.make("battleOfSexes")
>>> obs, info = env.reset(seed=0)
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from mlgym import _core, containers, wrappers
from mlgym._paths import bundled_root, config_roots
from mlgym.env import MLGymEnv, make_env
from mlgym.errors import *  # noqa: F403 - the whole exception tree, as mlgym.<Error>
from mlgym.errors import __all__ as _error_names
from mlgym.registration import register_envs
from mlgym.session import RunResult, Session
from mlgym.vector import MLGymVectorEnv, make_vec, reset_async, step_async

__version__ = _core.__version__

#: Actions the env handles itself instead of running them in the shell.
EXIT_ACTIONS: tuple[str, ...] = tuple(_core.EXIT_ACTIONS)

__all__ = [
    *_error_names,
    "EXIT_ACTIONS",
    "MLGymEnv",
    "MLGymVectorEnv",
    "RunResult",
    "Session",
    "bundled_root",
    "containers",
    "list_tasks",
    "load_task",
    "make",
    "make_vec",
    "mlgym_bench_tasks",
    "reset_async",
    "step_async",
    "task_info",
    "task_metric",
    "wrappers",
]


def make(task: str | os.PathLike[str], **kwargs: Any) -> gym.Env[str, str]:
    """Creates the environment of a task id (or a task YAML path).

    Keyword arguments are those of :class:`MLGymEnv` (``backend``, ``max_steps``,
    ``config_root``, ...). ``reward`` may also be a callable of ``info``: the env then
    comes wrapped in :class:`mlgym.wrappers.InfoReward`. The sandbox starts on the first
    ``reset``.
    """
    return make_env(task, **kwargs)


def _roots(config_root: str | os.PathLike[str] | None) -> list[str]:
    return [str(p) for p in config_roots(config_root)]


def list_tasks(config_root: str | os.PathLike[str] | None = None) -> list[str]:
    """Ids of every task under ``config_root``, ``MLGYM_CONFIG_ROOT`` and the bundle."""
    return [tid for tid, _ in _core.list_tasks(_roots(config_root))]


def load_task(
    task: str | os.PathLike[str], config_root: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The config of a task (description rendered) as a dict."""
    return _core.load_task(os.fspath(task), _roots(config_root))


def task_info(
    task: str | os.PathLike[str], config_root: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """What the core knows about a task, as a plain dict.

    Keys: ``id``, ``name``, ``yaml_path``, ``root``, ``entrypoint``, ``description``,
    ``metrics`` (the YAML's, each ``name``/``direction``/``primary``),
    ``primary_metric`` (``name``, ``direction``, ``source``: ``yaml``, ``mlgym`` or
    ``baseline``), ``baseline_scores``, ``baseline``, ``training_timeout``,
    ``resources``, ``datasets``, ``starter_code``, ``evaluation_paths``,
    ``secret_files``, ``memory_path``, ``requirements_path``.

    Raises:
        TaskNotFoundError: no such task under the config roots.
        TaskConfigError: its YAML is malformed.
    """
    return _core.task_info(os.fspath(task), _roots(config_root))


def task_metric(
    task_id: str, config_root: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """How a task is scored: ``task_id``, ``display_name``, ``metric``, ``direction``,
    ``source``. The task YAML's ``metrics:`` come first, MLGym's published table second
    (so tasks without a YAML here, such as MLGym-Bench results, still score); ``None``
    when neither knows the task."""
    return _core.task_metric(task_id, _roots(config_root))


def mlgym_bench_tasks() -> list[dict[str, Any]]:
    """MLGym-Bench's 13 tasks in the published table order (``task_id``,
    ``display_name``, ``metric``, ``direction``)."""
    return _core.mlgym_bench_tasks()


register_envs()

# GPU inventory and exclusive leases (docs/gpus.md).
from mlgym.gpus import GpuLease, acquire_gpus, gpu_inventory  # noqa: E402

__all__ += ["GpuLease", "acquire_gpus", "gpu_inventory"]

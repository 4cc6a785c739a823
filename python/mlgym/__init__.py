"""mlgym: ML research tasks as Gymnasium environments for AI research agents.

>>> import mlgym
>>> env = mlgym.make("battleOfSexes")
>>> obs, info = env.reset(seed=0)
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlgym import _core, containers
from mlgym._paths import bundled_root, config_roots
from mlgym.env import MLGymEnv
from mlgym.errors import (
    EngineUnavailableError,
    EnvClosedError,
    MLGymError,
    ResetNeededError,
    SandboxError,
    ShellError,
    TaskConfigError,
    TaskNotFoundError,
)
from mlgym.registration import register_envs
from mlgym.session import RunResult, Session
from mlgym.vector import MLGymVectorEnv, make_vec, reset_async, step_async

__version__ = _core.__version__

__all__ = [
    "EngineUnavailableError",
    "EnvClosedError",
    "MLGymEnv",
    "MLGymError",
    "MLGymVectorEnv",
    "ResetNeededError",
    "RunResult",
    "SandboxError",
    "Session",
    "ShellError",
    "TaskConfigError",
    "TaskNotFoundError",
    "bundled_root",
    "containers",
    "list_tasks",
    "load_task",
    "make",
    "make_vec",
    "reset_async",
    "step_async",
]


def make(task: str | os.PathLike[str], **kwargs: Any) -> MLGymEnv:
    """Creates the environment of a task id (or a task YAML path).

    Keyword arguments are those of :class:`MLGymEnv` (``backend``, ``max_steps``,
    ``reward``, ``config_root``, ...). The sandbox starts on the first ``reset``.
    """
    return MLGymEnv(task, **kwargs)


def list_tasks(config_root: str | os.PathLike[str] | None = None) -> list[str]:
    """Ids of every task under ``config_root``, ``MLGYM_CONFIG_ROOT`` and the bundle."""
    return [tid for tid, _ in _core.list_tasks([str(p) for p in config_roots(config_root)])]


def load_task(
    task: str | os.PathLike[str], config_root: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The config of a task (description rendered) as a dict."""
    roots = [str(p) for p in config_roots(config_root)]
    return json.loads(_core.load_task_json(os.fspath(task), roots))


register_envs()

# GPU inventory and exclusive leases (docs/gpus.md).
from mlgym.gpus import GpuLease, GpuUnavailableError, acquire_gpus, gpu_inventory  # noqa: E402

__all__ += ["GpuLease", "GpuUnavailableError", "acquire_gpus", "gpu_inventory"]

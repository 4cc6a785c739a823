"""Registers every shipped task as ``mlgym/<task_id>`` with Gymnasium."""

from __future__ import annotations

import gymnasium as gym

from mlgym import _core
from mlgym._paths import config_roots


def register_envs() -> list[str]:
    """Registers tasks found in the config roots; returns the new ids."""
    added = []
    for task_id, _ in _core.list_tasks([str(p) for p in config_roots()]):
        env_id = f"mlgym/{task_id}"
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="mlgym.env:make_env",
            vector_entry_point="mlgym.vector:make_vec",
            kwargs={"task": task_id},
            nondeterministic=False,
        )
        added.append(env_id)
    return added

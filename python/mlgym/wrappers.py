"""Gymnasium wrappers for mlgym environments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym

RewardFn = Callable[[dict[str, Any]], float]


class InfoReward(gym.Wrapper[str, str, str, str]):
    """Replaces each step's reward with ``reward_fn(info)``.

    ``info`` holds everything the core knows about the step (``metrics``,
    ``normalized_score``, ``best_normalized_score``, ``exit_status``, ``failure``, ...),
    so custom reward shaping needs no access to the env's internals::

        env = InfoReward(mlgym.MLGymEnv("battleOfSexes"), lambda info: info["step"])

    ``mlgym.make(task, reward=fn)`` does the same.
    """

    def __init__(self, env: gym.Env[str, str], reward_fn: RewardFn) -> None:
        super().__init__(env)
        if not callable(reward_fn):
            raise TypeError("reward_fn must be a callable of info")
        self.reward_fn = reward_fn

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float(self.reward_fn(info)), terminated, truncated, info


__all__ = ["InfoReward", "RewardFn"]

"""Gymnasium's own checks on the env, on the shipped game task and the tiny test task."""

from __future__ import annotations

import warnings

import gymnasium as gym
import mlgym
import pytest
from gymnasium.utils.env_checker import check_env


def test_check_env_on_registered_task():
    env = gym.make("mlgym/battleOfSexes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checker warning is a failure here
            check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_make_vec_uses_the_native_vector_env():
    venv = gym.make_vec("mlgym/battleOfSexes", num_envs=2)
    try:
        assert isinstance(venv, mlgym.MLGymVectorEnv)
        obs, infos = venv.reset(seed=1)
        assert venv.observation_space.contains(obs)
        assert venv.single_observation_space.contains(obs[0])
        obs, rew, term, trunc, infos = venv.step(["echo ünïcode ✓", "true"])
        assert obs[0] == "ünïcode ✓" and rew.shape == (2,) and term.shape == trunc.shape == (2,)
        assert venv.action_space.contains(("a", "b"))
    finally:
        venv.close()


def test_close_is_idempotent_and_reset_is_lazy():
    env = mlgym.make("battleOfSexes")
    assert env.workspace is None  # nothing started before the first reset
    env.close()
    env.close()
    with pytest.raises(mlgym.EnvClosedError):
        env.reset(seed=0)

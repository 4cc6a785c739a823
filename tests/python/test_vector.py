"""The vector env, send/recv and the asyncio API, on the tiny test task."""

from __future__ import annotations

import asyncio
import time

import gymnasium as gym
import mlgym
import numpy as np
import pytest
from mlgym.registration import register_envs


@pytest.fixture
def venv(fixture_root):
    env = mlgym.make_vec("guessNumber", num_envs=3, config_root=fixture_root)
    yield env
    env.close()


def test_reset_step_shapes(venv):
    obs, infos = venv.reset(seed=10)
    assert len(obs) == 3 and all(o.startswith("Write a number") for o in obs)
    assert list(infos["seed"]) == [10, 11, 12]
    assert venv.observation_space.contains(obs)
    obs, rew, term, trunc, infos = venv.step([f"echo env-{i} héllo" for i in range(3)])
    assert obs == ("env-0 héllo", "env-1 héllo", "env-2 héllo")
    assert rew.dtype == np.float64 and rew.shape == (3,)
    assert not term.any() and not trunc.any()
    assert list(infos["step"]) == [1, 1, 1] and infos["_step"].all()


def test_next_step_autoreset(venv):
    venv.reset(seed=0)
    obs, rew, term, trunc, _ = venv.step(["submit", "true", "echo 9 > answer.txt"])
    assert list(term) == [True, False, False] and obs[0] == "Exited (submit)"
    obs, rew, term, trunc, infos = venv.step(["echo ignored", "true", "submit"])
    assert obs[0].startswith("Write a number")  # env 0 was reset, its action ignored
    assert infos["step"][0] == 0
    assert term[2] and rew[2] == pytest.approx(3.5)  # (9 - 2) / 2


def test_long_command_does_not_block_recv(venv):
    venv.reset(seed=0)
    venv.send(["sleep 3; echo slow", "echo fast-1", "echo fast-2"], [0, 1, 2])
    t0 = time.perf_counter()
    obs, rew, term, trunc, infos, ids = venv.recv(min_ready=2, timeout=10)
    assert time.perf_counter() - t0 < 2.5
    assert sorted(ids.tolist()) == [1, 2]
    assert sorted(obs) == ["fast-1", "fast-2"]
    venv.send(["echo again"], [1])
    obs, *_, ids = venv.recv(min_ready=2, timeout=10)
    assert sorted(ids.tolist()) == [0, 1]
    assert sorted(obs) == ["again", "slow"]
    with pytest.raises(RuntimeError, match="no step in flight"):
        venv.recv()


def test_gymnasium_make_vec(fixture_root, monkeypatch):
    monkeypatch.setenv("MLGYM_CONFIG_ROOT", str(fixture_root))
    register_envs()
    env = gym.make_vec("mlgym/guessNumber", num_envs=2)
    assert isinstance(env, mlgym.MLGymVectorEnv)
    obs, _ = env.reset(seed=1)
    assert len(obs) == 2
    env.close()


def test_asyncio_api(fixture_root):
    async def main() -> list[str]:
        envs = [mlgym.make("guessNumber", config_root=fixture_root) for _ in range(2)]
        await asyncio.gather(*(mlgym.reset_async(e, seed=0) for e in envs))
        t0 = time.perf_counter()
        results = await asyncio.gather(
            mlgym.step_async(envs[0], "sleep 1; echo a"),
            mlgym.step_async(envs[1], "sleep 1; echo b"),
        )
        assert time.perf_counter() - t0 < 1.9  # concurrent, not serial
        for e in envs:
            e.close()
        return [r[0] for r in results]

    assert asyncio.run(main()) == ["a", "b"]

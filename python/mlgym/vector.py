"""Many episodes at once: a Gymnasium ``VectorEnv`` and an EnvPool-style send/recv API.

Every env is a Rust env whose ``reset``/``step`` release the GIL, so episodes run
truly concurrently. A step occupies a worker thread only while it runs; an episode
waiting for its next action costs no thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from mlgym import settings
from mlgym.env import MLGymEnv, make_env

_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """The process-wide pool that runs env calls (threads are created on demand)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(
                max_workers=settings.max_threads(), thread_name_prefix="mlgym"
            )
        return _EXECUTOR


async def reset_async(
    env: MLGymEnv, *, seed: int | None = None, options: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """``await``-able :meth:`MLGymEnv.reset` (runs off the event loop)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), lambda: env.reset(seed=seed, options=options))


async def step_async(env: MLGymEnv, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
    """``await``-able :meth:`MLGymEnv.step` (runs off the event loop)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), env.step, action)


def _stack_infos(infos: list[dict[str, Any]], n: int, slots: Sequence[int]) -> dict[str, Any]:
    """Gymnasium's vector info layout: ``info[key][slot]`` plus a ``_key`` mask."""
    out: dict[str, Any] = {}
    for slot, info in zip(slots, infos, strict=True):
        for key, value in info.items():
            if key not in out:
                out[key] = np.full(n, None, dtype=object)
                out[f"_{key}"] = np.zeros(n, dtype=bool)
            out[key][slot] = value
            out[f"_{key}"][slot] = True
    return out


class MLGymVectorEnv(VectorEnv):
    """``num_envs`` episodes of one task, stepped concurrently.

    ``autoreset_mode`` follows Gymnasium (``NEXT_STEP`` by default: the step after an
    episode ends resets that env and ignores its action). ``send``/``recv`` step only
    some envs and return whichever finish first.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        task: str,
        num_envs: int,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **env_kwargs: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError("num_envs must be at least 1")
        self.num_envs = num_envs
        self.envs = [make_env(task, **env_kwargs) for _ in range(num_envs)]
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode}
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._in_flight: dict[int, Future[Any]] = {}
        self._done_queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.closed = False

    # ---- Gymnasium API -------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        self._drain()
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        futures = [
            executor().submit(env.reset, seed=s, options=options)
            for env, s in zip(self.envs, seeds, strict=True)
        ]
        results = [f.result() for f in futures]
        self._needs_reset[:] = False
        obs = tuple(r[0] for r in results)
        return obs, _stack_infos([r[1] for r in results], self.num_envs, range(self.num_envs))

    def step(
        self, actions: Sequence[str]
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self._drain()
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        futures = [self._submit(i, a) for i, a in enumerate(actions)]
        return self._gather([f.result() for f in futures], list(range(self.num_envs)))

    def close_extras(self, **kwargs: Any) -> None:
        self._drain()
        for env in self.envs:
            env.close()

    # ---- EnvPool-style async API ---------------------------------------------------
    def send(self, actions: Sequence[str], env_ids: Sequence[int] | None = None) -> None:
        """Starts steps for ``env_ids`` (default: all) without waiting."""
        ids = list(range(self.num_envs)) if env_ids is None else [int(i) for i in env_ids]
        if len(ids) != len(actions):
            raise ValueError("actions and env_ids must have the same length")
        for i in ids:
            if i in self._in_flight:
                raise RuntimeError(f"env {i} already has a step in flight; recv() it first")
        for i, action in zip(ids, actions, strict=True):
            future = self._submit(i, action)
            self._in_flight[i] = future
            future.add_done_callback(lambda _f, i=i: self._done_queue.put(i))

    def recv(
        self, min_ready: int = 1, timeout: float | None = None
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
        """Waits until at least ``min_ready`` sent steps finished (or ``timeout``) and
        returns every finished one: ``(obs, rewards, terminated, truncated, infos,
        env_ids)``."""
        if not self._in_flight:
            raise RuntimeError("recv() with no step in flight; call send() first")
        ready: list[int] = []
        want = min(min_ready, len(self._in_flight))
        while len(ready) < want:
            try:
                ready.append(self._done_queue.get(timeout=timeout))
            except queue.Empty:
                break
        while True:
            try:
                ready.append(self._done_queue.get_nowait())
            except queue.Empty:
                break
        results = [self._in_flight.pop(i).result() for i in ready]
        obs, rew, term, trunc, infos = self._gather(results, ready, compact=True)
        return obs, rew, term, trunc, infos, np.asarray(ready, dtype=np.int64)

    # ---- internals -----------------------------------------------------------------
    def _submit(self, i: int, action: str) -> Future[Any]:
        env = self.envs[i]
        if self._needs_reset[i] and self.autoreset_mode == AutoresetMode.NEXT_STEP:

            def reset_instead() -> tuple[str, float, bool, bool, dict[str, Any]]:
                obs, info = env.reset()
                return obs, 0.0, False, False, info

            self._needs_reset[i] = False
            return executor().submit(reset_instead)

        def run() -> tuple[str, float, bool, bool, dict[str, Any]]:
            result = env.step(action)
            if self.autoreset_mode == AutoresetMode.SAME_STEP and (result[2] or result[3]):
                obs, info = env.reset()
                info = dict(info, final_obs=result[0], final_info=result[4])
                return obs, result[1], result[2], result[3], info
            return result

        return executor().submit(run)

    def _gather(
        self, results: list[Any], ids: list[int], compact: bool = False
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        for (_, _, term, trunc, _), i in zip(results, ids, strict=True):
            if self.autoreset_mode == AutoresetMode.NEXT_STEP and (term or trunc):
                self._needs_reset[i] = True
        obs = tuple(r[0] for r in results)
        rewards = np.asarray([r[1] for r in results], dtype=np.float64)
        terminated = np.asarray([r[2] for r in results], dtype=bool)
        truncated = np.asarray([r[3] for r in results], dtype=bool)
        n = len(ids) if compact else self.num_envs
        slots = range(len(ids)) if compact else ids
        infos = _stack_infos([r[4] for r in results], n, slots)
        return obs, rewards, terminated, truncated, infos

    def _drain(self) -> None:
        for future in list(self._in_flight.values()):
            future.result()
        self._in_flight.clear()
        while True:
            try:
                self._done_queue.get_nowait()
            except queue.Empty:
                break


def make_vec(task: str, num_envs: int = 1, **kwargs: Any) -> MLGymVectorEnv:
    """``num_envs`` concurrent episodes of ``task`` (see :class:`MLGymVectorEnv`)."""
    kwargs.pop("vectorization_mode", None)
    kwargs.pop("vector_kwargs", None)
    return MLGymVectorEnv(task, num_envs, **kwargs)


__all__ = ["MLGymVectorEnv", "make_vec", "reset_async", "step_async"]

"""The Gymnasium environment over the Rust core."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym

from mlgym import _core
from mlgym._paths import config_roots
from mlgym.containers import CONTAINER_BACKENDS, install_cleanup_hooks
from mlgym.spaces import UnicodeText

RewardFn = Callable[[dict[str, Any]], float]

#: Largest observation or action the spaces admit when no cap is set.
_UNBOUNDED = 1 << 30


def default_process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of the agent's shell and graders on the local backend.

    Nothing else is inherited from the host (API keys stay out of the sandbox); the
    current interpreter's ``bin`` comes first on ``PATH``.
    """
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env = {"PATH": f"{bin_dir}{os.pathsep}{path}"}
    for key in ("LANG", "LC_ALL", "TZ", "TMPDIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
    return env


class MLGymEnv(gym.Env[str, str]):
    """One MLGym task as a Gymnasium environment.

    The sandbox starts on the first :meth:`reset`; later resets restore the workspace
    and restart the shell without a new sandbox. Actions are shell commands or MLGym's
    interface commands (``open``, ``edit``, ``validate``, ``submit``, ...).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        task: str | os.PathLike[str],
        *,
        backend: str = "local",
        config_root: str | os.PathLike[str] | None = None,
        max_steps: int = 50,
        reward: str | RewardFn = "final",
        failure_reward: float = -1.0,
        observation_limit: int | None = 50_000,
        env_vars: Mapping[str, Any] | None = None,
        process_env: Mapping[str, str] | None = None,
        python: str | None = None,
        workspace: str | os.PathLike[str] | None = None,
        short_timeout: float | None = None,
        long_timeout: float | None = None,
        no_output_timeout: float | None = None,
        image: str | None = None,
        network: str | None = None,
        memory: str | int | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        gpus: int | Sequence[int | str] | None = None,
        gpu_wait: float | None = None,
        render_mode: str | None = None,
    ) -> None:
        if backend not in ("local", *CONTAINER_BACKENDS):
            raise ValueError(f"unknown backend {backend!r}: use 'local', 'docker' or 'podman'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self._reward_fn: RewardFn | None = None
        if callable(reward):
            self._reward_fn = reward
            reward_mode = "final"
        else:
            reward_mode = str(reward)
        if backend != "local" and workspace is not None:
            raise ValueError("workspace= is only for backend='local'")
        self.render_mode = render_mode
        self.backend = backend
        #: Seconds the last reset or step took.
        self.last_elapsed = 0.0
        #: Episodes started so far (1 after the first reset).
        self.episode = 0
        self._gpu_lease: Any = None
        gpu_ids: list[str] = []
        if gpus:
            from mlgym.gpus import acquire_gpus

            if isinstance(gpus, int):
                self._gpu_lease = acquire_gpus(count=gpus, wait=gpu_wait)
            else:
                self._gpu_lease = acquire_gpus(ids=[str(g) for g in gpus], wait=gpu_wait)
            gpu_ids = list(self._gpu_lease.ids)
        self.gpus = gpu_ids
        if backend == "local":
            shell_env = default_process_env(process_env)
            if gpu_ids:
                shell_env.setdefault("CUDA_VISIBLE_DEVICES", ",".join(gpu_ids))
            grader_python = python or sys.executable
        else:
            install_cleanup_hooks()
            # Host paths mean nothing in the container: only what the caller asked for.
            shell_env = {str(k): str(v) for k, v in (process_env or {}).items()}
            grader_python = python or "python3"
        self._core = _core.Env(
            os.fspath(task),
            config_roots=[str(p) for p in config_roots(config_root)],
            max_steps=int(max_steps),
            reward_mode=reward_mode,
            failure_reward=float(failure_reward),
            observation_limit=observation_limit,
            process_env=shell_env,
            shell_vars=[(str(k), str(v)) for k, v in (env_vars or {}).items()],
            python=grader_python,
            workspace=None if workspace is None else os.fspath(workspace),
            short_timeout=short_timeout,
            long_timeout=long_timeout,
            no_output_timeout=no_output_timeout,
            backend=backend,
            image=image,
            network=network,
            memory=None if memory is None else str(memory),
            cpus=cpus,
            pids_limit=pids_limit,
            gpus=gpu_ids,
        )
        limit = observation_limit + 4096 if observation_limit else _UNBOUNDED
        self.observation_space = UnicodeText(max_length=limit)
        self.action_space = UnicodeText(max_length=_UNBOUNDED)
        self.spec_task_id = self._core.task_id
        self._last_observation = ""

    @property
    def task_id(self) -> str:
        """The task id."""
        return self._core.task_id

    @property
    def description(self) -> str:
        """The task statement (the first observation)."""
        return self._core.description

    @property
    def workspace(self) -> str | None:
        """The workspace directory once the sandbox is up."""
        return self._core.workspace

    @property
    def task_config(self) -> dict[str, Any]:
        """The task config (MLGym's schema plus our extensions)."""
        return json.loads(self._core.task_config_json())

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None and seed < 0:
            raise ValueError("seed must be a non-negative integer")
        obs, info_json = self._core.reset(seed)
        self._last_observation = obs
        return obs, self._with_gpus(json.loads(info_json))

    def _with_gpus(self, info: dict[str, Any]) -> dict[str, Any]:
        # Wall time and the episode counter differ between identical episodes; they are
        # attributes, so `info` stays a function of (seed, actions) as Gymnasium expects.
        self.last_elapsed = float(info.pop("elapsed", 0.0))
        self.episode = int(info.pop("episode", 0))
        info["gpus"] = self.gpus
        info["backend"] = self.backend
        return info

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"action must be a str, got {type(action).__name__}")
        obs, reward, terminated, truncated, info_json = self._core.step(action)
        info = self._with_gpus(json.loads(info_json))
        if self._reward_fn is not None:
            reward = float(self._reward_fn(info))
        self._last_observation = obs
        return obs, reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_observation
        return None

    def close(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.close()
        lease = getattr(self, "_gpu_lease", None)
        if lease is not None:
            lease.release()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

"""The Gymnasium environment over the Rust core.

The episode's rules (steps, grading, rewards, ``info``, GPU leases, the sandbox's
process environment) live in the Rust core; this module adapts it to Gymnasium.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym

from mlgym import _core
from mlgym._paths import config_roots
from mlgym.containers import CONTAINER_BACKENDS, install_cleanup_hooks
from mlgym.errors import InvalidActionError, InvalidArgumentError
from mlgym.spaces import UnicodeText
from mlgym.wrappers import InfoReward, RewardFn

#: The core's defaults (``max_steps``, ``reward_mode``, ``failure_reward``,
#: ``observation_limit``): one source for the signature below and the Rust options.
DEFAULTS: dict[str, Any] = dict(_core.ENV_DEFAULTS)

#: Largest observation or action the spaces admit when no cap is set.
_UNBOUNDED = 1 << 30
#: Room above the observation cap for the core's own notes (the cap marker, a
#: timeout or restart message, "Exited (...)").
_CAP_MARGIN = 4096


class MLGymEnv(gym.Env[str, str]):
    """One MLGym task as a Gymnasium environment.

    The sandbox starts on the first :meth:`reset`; later resets restore the workspace
    and restart the shell without a new sandbox. On the local backend the agent's shell
    runs in a bubblewrap sandbox (``isolation="sandbox"``, needs ``bwrap``: ``apt-get
    install bubblewrap``); ``isolation="none"`` runs it directly on this host, which is
    only for debugging trusted agents, never for training. Actions are shell commands or MLGym's
    interface commands (``open``, ``edit``, ``validate``, ``submit``, ...).
    ``reward`` is ``"final"``, ``"improvement"`` or ``"raw"``; for a callable, use
    :func:`mlgym.make` (it adds :class:`mlgym.wrappers.InfoReward`).
    ``grading_key`` keys the opponents' randomness (default: a secret drawn per env);
    envs given the same key and seed grade against the same draws. Never show it to the
    agent (docs/security.md).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        task: str | os.PathLike[str],
        *,
        backend: str = "local",
        config_root: str | os.PathLike[str] | None = None,
        max_steps: int = DEFAULTS["max_steps"],
        reward: str = DEFAULTS["reward_mode"],
        failure_reward: float = DEFAULTS["failure_reward"],
        observation_limit: int | None = DEFAULTS["observation_limit"],
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
        isolation: str = DEFAULTS["isolation"],
        grading_key: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if callable(reward):
            raise InvalidArgumentError(
                "MLGymEnv takes reward='final', 'improvement' or 'raw'; for a callable use "
                "mlgym.make(task, reward=fn) or mlgym.wrappers.InfoReward(env, fn)"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if backend in CONTAINER_BACKENDS:
            install_cleanup_hooks()
        gpu_count, gpu_ids = _gpu_request(gpus)
        max_steps = _int_arg("max_steps", max_steps, 1, _U32_MAX)
        if observation_limit is not None:
            observation_limit = _int_arg("observation_limit", observation_limit, 1, _UNBOUNDED)
        if pids_limit is not None:
            pids_limit = _int_arg("pids_limit", pids_limit, 1, _I64_MAX)
        if gpu_count is not None:
            gpu_count = _int_arg("gpus", gpu_count, 0, _I64_MAX)
        for name, value in (
            ("short_timeout", short_timeout),
            ("long_timeout", long_timeout),
            ("no_output_timeout", no_output_timeout),
            ("cpus", cpus),
            ("gpu_wait", gpu_wait),
        ):
            if value is not None:
                _float_arg(name, value, allow_zero=name == "gpu_wait")
        if not isinstance(task, (str, os.PathLike)):
            raise InvalidArgumentError(f"task must be a task id or a path, got {task!r}")
        self._core = _core.Env(
            os.fspath(task),
            config_roots=[str(p) for p in config_roots(config_root)],
            max_steps=max_steps,
            reward_mode=str(reward),
            failure_reward=float(failure_reward),
            observation_limit=observation_limit,
            process_env={str(k): str(v) for k, v in (process_env or {}).items()},
            shell_vars=[(str(k), str(v)) for k, v in (env_vars or {}).items()],
            grader_python=python,
            host_python=sys.executable,
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
            gpu_count=gpu_count,
            gpu_ids=gpu_ids,
            gpu_wait=gpu_wait,
            isolation=str(isolation),
            grading_key=grading_key,
        )
        self.render_mode = render_mode
        limit = observation_limit + _CAP_MARGIN if observation_limit else _UNBOUNDED
        self.observation_space = UnicodeText(max_length=limit)
        self.action_space = UnicodeText(max_length=_UNBOUNDED)
        self._last_observation = ""

    @property
    def task_id(self) -> str:
        """The task id."""
        return self._core.task_id

    @property
    def backend(self) -> str:
        """``local``, ``docker`` or ``podman``."""
        return self._core.backend

    @property
    def gpus(self) -> list[str]:
        """GPU ids leased to this env (released on :meth:`close`)."""
        return self._core.gpus

    @property
    def episode(self) -> int:
        """Episodes started so far (1 after the first reset)."""
        return self._core.episode

    @property
    def last_elapsed(self) -> float:
        """Seconds the last reset or step took (kept out of ``info`` so that ``info``
        depends only on the seed and the actions)."""
        return self._core.last_elapsed

    @property
    def description(self) -> str:
        """The task statement (the first observation)."""
        return self._core.description

    @property
    def workspace(self) -> str | None:
        """The workspace as the agent sees it once the sandbox is up (in the local
        sandbox ``/home/agent/workspace``)."""
        return self._core.workspace

    @property
    def workspace_on_host(self) -> str | None:
        """The workspace directory on this host once the sandbox is up (where the
        files the agent writes can be read from outside)."""
        path = self._core.workspace_on_host
        return None if path is None else os.fspath(path)

    @property
    def isolation(self) -> str:
        """``"sandbox"`` (the default: bubblewrap on the local backend, or a container)
        or ``"none"`` (the agent's shell runs directly on this host: unsafe for
        training)."""
        return self._core.isolation

    @property
    def task_config(self) -> dict[str, Any]:
        """The task config (MLGym's schema plus our extensions)."""
        return self._core.task_config()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64
        ):
            raise InvalidArgumentError(
                f"seed must be None or an integer in [0, 2**64), got {seed!r}"
            )
        if options is not None and not isinstance(options, Mapping):
            raise InvalidArgumentError(f"options must be a dict or None, got {options!r}")
        super().reset(seed=seed)
        obs, info = self._core.reset(seed)
        self._last_observation = obs
        return obs, info

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """Runs one action (a ``str``).

        An action that is not a ``str``, or that holds a lone surrogate (``"\\udc80"``,
        which no UTF-8 text can carry), raises :class:`mlgym.InvalidActionError` (a
        ``TypeError`` and a ``ValueError``) without taking a step: nothing reaches the
        shell, the step count is unchanged and the env stays usable. Actions are not
        re-encoded behind the agent's back (``surrogateescape`` would send bytes the
        agent never wrote).
        """
        if not isinstance(action, str):
            raise InvalidActionError(f"action must be a str, got {type(action).__name__}")
        try:
            action.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidActionError(
                f"action holds a lone surrogate at index {err.start} ({action[err.start]!a}); "
                "actions must be valid Unicode text"
            ) from None
        obs, reward, terminated, truncated, info = self._core.step(action)
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

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


_U32_MAX = (1 << 32) - 1
_I64_MAX = (1 << 63) - 1


def _int_arg(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, else :class:`InvalidArgumentError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float_arg(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite positive float (or zero), else :class:`InvalidArgumentError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidArgumentError(f"{name} is too large: {value}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise InvalidArgumentError(f"{name} must be {kind} finite number, got {value!r}")
    return number


def _gpu_request(
    gpus: int | Sequence[int | str] | None,
) -> tuple[int | None, list[str] | None]:
    """``gpus=`` as the core's (count, ids) pair."""
    if gpus is None:
        return None, None
    if isinstance(gpus, bool):
        raise InvalidArgumentError("gpus must be a count or a list of GPU ids, not a bool")
    if isinstance(gpus, int):
        return gpus, None
    return None, [str(g) for g in gpus]


def make_env(
    task: str | os.PathLike[str], *, reward: str | RewardFn = DEFAULTS["reward_mode"], **kwargs: Any
) -> gym.Env[str, str]:
    """:class:`MLGymEnv`, wrapped in :class:`~mlgym.wrappers.InfoReward` when ``reward``
    is a callable of ``info`` (the core then runs in ``final`` mode)."""
    if callable(reward):
        return InfoReward(MLGymEnv(task, **kwargs), reward)
    return MLGymEnv(task, reward=reward, **kwargs)

"""A bare shell with MLGym's interface on a workspace directory."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlgym import _core
from mlgym.errors import InvalidArgumentError


@dataclass(frozen=True)
class RunResult:
    """What one action produced."""

    observation: str
    exit_code: int | None
    state: dict[str, str]
    timed_out: bool = False
    shell_restarted: bool = False
    elapsed: float = 0.0


class Session:
    """A persistent shell over ``workspace`` speaking MLGym's interface.

    ``env`` holds shell variables set before the first action (as MLGym's agent config
    does, e.g. ``{"WINDOW": 100}``); ``process_env`` adds exported environment
    variables. ``observation_limit`` caps observations (``None``: no cap).
    """

    def __init__(
        self,
        workspace: str | os.PathLike[str],
        *,
        backend: str = "local",
        env: Mapping[str, Any] | None = None,
        process_env: Mapping[str, str] | None = None,
        observation_limit: int | None = None,
        timeout: float = 25.0,
        long_timeout: float = 3600.0,
        no_output_timeout: float | None = None,
    ) -> None:
        if backend != "local":
            raise InvalidArgumentError(
                f"backend {backend!r} is not available yet; use backend='local'"
            )
        self._core = _core.Session(
            os.fspath(workspace),
            shell_vars=[(str(k), str(v)) for k, v in (env or {}).items()],
            process_env={str(k): str(v) for k, v in (process_env or {}).items()},
            host_python=sys.executable,
            observation_limit=observation_limit,
            timeout=timeout,
            long_timeout=long_timeout,
            no_output_timeout=no_output_timeout,
        )

    @property
    def workspace(self) -> str:
        """The workspace directory."""
        return self._core.workspace

    def run(self, action: str) -> RunResult:
        """Runs one action exactly as an agent wrote it."""
        if not isinstance(action, str):
            raise TypeError(f"action must be a str, got {type(action).__name__}")
        obs, code, open_file, working_dir, timed_out, restarted, elapsed = self._core.run(action)
        return RunResult(
            observation=obs,
            exit_code=code,
            state={"open_file": open_file, "working_dir": working_dir},
            timed_out=timed_out,
            shell_restarted=restarted,
            elapsed=elapsed,
        )

    def close(self) -> None:
        """Stops the shell (idempotent)."""
        self._core.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._core.closed

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

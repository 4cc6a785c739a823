"""Exceptions raised by mlgym. Every one derives from :class:`MLGymError`."""

from mlgym._core import (
    EngineUnavailableError,
    EnvClosedError,
    MLGymError,
    ResetNeededError,
    SandboxError,
    ShellError,
    TaskConfigError,
    TaskNotFoundError,
)

__all__ = [
    "EngineUnavailableError",
    "EnvClosedError",
    "MLGymError",
    "ResetNeededError",
    "SandboxError",
    "ShellError",
    "TaskConfigError",
    "TaskNotFoundError",
]

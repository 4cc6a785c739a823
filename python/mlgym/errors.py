"""Exceptions raised by mlgym. Every one derives from :class:`MLGymError`."""

from mlgym._core import (
    EnvClosedError,
    MLGymError,
    ResetNeededError,
    SandboxError,
    ShellError,
    TaskConfigError,
    TaskNotFoundError,
)

__all__ = [
    "EnvClosedError",
    "MLGymError",
    "ResetNeededError",
    "SandboxError",
    "ShellError",
    "TaskConfigError",
    "TaskNotFoundError",
]

"""Exceptions raised by mlgym. Every one derives from :class:`MLGymError`."""

from mlgym._core import (
    EngineUnavailableError,
    EnvClosedError,
    GpuUnavailableError,
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
    "GpuUnavailableError",
    "MLGymError",
    "ResetNeededError",
    "SandboxError",
    "ShellError",
    "TaskConfigError",
    "TaskNotFoundError",
]

"""Exceptions raised by mlgym. Every one derives from :class:`MLGymError`.

The core's errors (task lookup, sandbox, shell, GPU leases) come from the Rust
extension; the Python tools' errors (agent runner, scoring, viewer) are defined here,
so the whole tree is importable from one module. Errors about bad arguments also derive
from :class:`ValueError`.
"""

from __future__ import annotations

from mlgym._core import (
    EngineUnavailableError,
    EnvClosedError,
    GpuUnavailableError,
    MLGymError,
    ResetNeededError,
    SandboxError,
    SandboxUnavailableError,
    ShellError,
    TaskConfigError,
    TaskNotFoundError,
)

# ---------------------------------------------------------------------------- core


class InvalidArgumentError(MLGymError, ValueError):
    """An argument of ``mlgym.make``, ``MLGymEnv``, ``Session`` or the GPU functions
    that cannot work (a negative timeout, an unknown backend or reward mode, ...). The
    Rust core raises it by this name."""

    __module__ = "mlgym"


class InvalidActionError(InvalidArgumentError, TypeError):
    """An action ``env.step`` cannot take: not a ``str``, or text with a lone surrogate.
    No step is taken and the env stays usable."""

    __module__ = "mlgym"


# --------------------------------------------------------------------------- agent


class AgentError(MLGymError):
    """Base class of the agent runner's errors (``mlgym.agent``, ``mlgym run``)."""

    __module__ = "mlgym"


class AgentConfigError(AgentError, ValueError):
    """An agent YAML that cannot be loaded, or a template that cannot be rendered."""

    __module__ = "mlgym"


class RunConfigError(AgentError, ValueError):
    """``mlgym run`` options that cannot work (a bad ``--container_type``, an
    unsupported flag, a task override without a task YAML, ...)."""

    __module__ = "mlgym"


class FormatError(AgentError):
    """The model output does not follow the parser's format (``exit_format``)."""

    __module__ = "mlgym"


class ContextWindowExceededError(AgentError):
    """The prompt no longer fits the model's context window (``exit_context``)."""

    __module__ = "mlgym"


class CostLimitExceededError(AgentError):
    """A per-instance or total cost limit is reached (``exit_cost``)."""

    __module__ = "mlgym"


class APIError(AgentError):
    """The model API failed with an error that retrying cannot fix (``exit_api``)."""

    __module__ = "mlgym"


class RetryError(AgentError):
    """The model API kept failing until the retries ran out (``exit_api``)."""

    __module__ = "mlgym"


class ModelRuntimeError(AgentError, RuntimeError):
    """A model back-end cannot go on (no more human input, a replayed runtime error):
    ``exit_error``."""

    __module__ = "mlgym"


class ExportError(AgentError, ValueError):
    """``mlgym export`` was given an unknown format, a missing path or no ``.traj``."""

    __module__ = "mlgym"


# --------------------------------------------------------------------------- tools


class SettingsError(MLGymError, ValueError):
    """An ``MLGYM_*`` environment variable holds a value that cannot be used."""

    __module__ = "mlgym"


class ScoringError(MLGymError, ValueError):
    """Scoring could not read its input (missing directory, malformed results)."""

    __module__ = "mlgym"


class TrajectoryError(MLGymError, ValueError):
    """A ``.traj`` file that cannot be read or is not an MLGym trajectory."""

    __module__ = "mlgym"


class ViewerError(MLGymError, FileNotFoundError):
    """The viewer's trajectory folder does not exist."""

    __module__ = "mlgym"


__all__ = [
    "APIError",
    "AgentConfigError",
    "AgentError",
    "ContextWindowExceededError",
    "CostLimitExceededError",
    "EngineUnavailableError",
    "EnvClosedError",
    "ExportError",
    "FormatError",
    "GpuUnavailableError",
    "InvalidActionError",
    "InvalidArgumentError",
    "MLGymError",
    "ModelRuntimeError",
    "ResetNeededError",
    "RetryError",
    "RunConfigError",
    "SandboxError",
    "SandboxUnavailableError",
    "ScoringError",
    "SettingsError",
    "ShellError",
    "TaskConfigError",
    "TaskNotFoundError",
    "TrajectoryError",
    "ViewerError",
]

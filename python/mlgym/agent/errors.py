"""Errors of the agent loop and the model back-ends (defined in :mod:`mlgym.errors`).

Each model-side error maps to one of MLGym's exit actions (see ``loop.exit_for_error``).
"""

from __future__ import annotations

from mlgym.errors import (
    AgentConfigError,
    AgentError,
    APIError,
    ContextWindowExceededError,
    CostLimitExceededError,
    ExportError,
    FormatError,
    ModelRuntimeError,
    RetryError,
    RunConfigError,
)

__all__ = [
    "APIError",
    "AgentConfigError",
    "AgentError",
    "ContextWindowExceededError",
    "CostLimitExceededError",
    "ExportError",
    "FormatError",
    "ModelRuntimeError",
    "RetryError",
    "RunConfigError",
]

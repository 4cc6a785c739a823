"""Errors of the agent loop and the model backends.

Each model-side error maps to one of MLGym's exit actions (see ``loop.exit_for_error``).
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of the agent package's errors."""


class AgentConfigError(AgentError, ValueError):
    """An agent YAML that cannot be loaded, or a template that cannot be rendered."""


class FormatError(AgentError):
    """The model output does not follow the parser's format."""


class ContextWindowExceededError(AgentError):
    """The prompt no longer fits the model's context window (``exit_context``)."""


class CostLimitExceededError(AgentError):
    """A per-instance or total cost limit is reached (``exit_cost``)."""


class APIError(AgentError):
    """The model API failed with an error that retrying cannot fix (``exit_api``)."""


class RetryError(AgentError):
    """The model API kept failing until the retries ran out (``exit_api``)."""

"""What every model back-end shares: messages, one output with its cost, the run's
statistics, and the one-method :class:`Model` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Messages = list[dict[str, str]]


@dataclass
class ModelOutput:
    """One model response with what it cost."""

    text: str
    cost: float = 0.0
    tokens_sent: int = 0
    tokens_received: int = 0


@dataclass
class ModelStats:
    """MLGym's ``info.model_stats`` (key order as in MLGym's files)."""

    total_cost: float = 0.0
    task_cost: float = 0.0
    tokens_sent: int = 0
    tokens_received: int = 0
    api_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_cost": self.total_cost,
            "task_cost": self.task_cost,
            "tokens_sent": self.tokens_sent,
            "tokens_received": self.tokens_received,
            "api_calls": self.api_calls,
        }


@runtime_checkable
class Model(Protocol):
    """The one method a policy must have."""

    def query(self, messages: Messages) -> str | ModelOutput: ...


def as_output(result: str | ModelOutput) -> ModelOutput:
    if isinstance(result, ModelOutput):
        return result
    if not isinstance(result, str):
        raise TypeError(f"a model must return a str or ModelOutput, got {type(result).__name__}")
    return ModelOutput(text=result)

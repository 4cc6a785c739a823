"""The ``submit_baseline`` back-end: runs the task's baseline script, then submits."""

from __future__ import annotations

from typing import Any

from mlgym.agent.models.base import Messages
from mlgym.agent.parsing import fence


class SubmitBaselineModel:
    """Runs the task's baseline script (when it has one), then submits."""

    def __init__(self) -> None:
        self._plan: list[str] = []

    def reset(self, task_config: dict[str, Any] | None = None) -> None:
        paths = (task_config or {}).get("baseline_paths") or []
        self._plan = [f"python {paths[0]}"] if paths else []
        self._plan.append("submit")

    def query(self, messages: Messages) -> str:
        if not self._plan:
            self.reset()
        action = self._plan.pop(0) if len(self._plan) > 1 else self._plan[0]
        return fence(action, "DISCUSSION\nSubmitting the baseline.\n\n")

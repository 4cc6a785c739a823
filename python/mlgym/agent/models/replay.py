"""The replay back-end: plays back the outputs of a ``.traj`` or a replay JSONL file."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgym.agent.models.base import Messages
from mlgym.agent.parsing import fence
from mlgym.errors import (
    AgentConfigError,
    APIError,
    ContextWindowExceededError,
    CostLimitExceededError,
    ModelRuntimeError,
)

logger = logging.getLogger("mlgym.agent")


@dataclass
class _ReplayItem:
    content: str
    action: str | None = None


def load_replay(path: str | os.PathLike[str]) -> list[list[_ReplayItem]]:
    """Episodes of assistant outputs from an MLGym ``.traj`` or a replay JSONL file.

    A ``.traj`` (JSON with ``history``) gives one episode: the ``content`` of its
    non-demo assistant entries. A JSONL file gives one episode per line, each line a
    mapping ``{<any key>: [assistant outputs...]}`` (MLGym's replay format).
    """
    p = Path(path)
    if not p.is_file():
        raise AgentConfigError(f"replay file {p} not found")
    text = p.read_text()
    stripped = text.lstrip()
    if stripped.startswith("{") and p.suffix != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "history" in data:
            items = [
                _ReplayItem(str(e.get("content", "")), e.get("action"))
                for e in data["history"]
                if e.get("role") == "assistant" and not e.get("is_demo")
            ]
            return [items]
    episodes: list[list[_ReplayItem]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AgentConfigError(f"{p}:{n}: not JSON: {exc}") from exc
        if isinstance(record, dict):
            for value in record.values():
                if not isinstance(value, list):
                    raise AgentConfigError(f"{p}:{n}: expected a list of outputs")
                episodes.append([_ReplayItem(str(v)) for v in value])
        elif isinstance(record, list):
            episodes.append([_ReplayItem(str(v)) for v in record])
        else:
            raise AgentConfigError(f"{p}:{n}: expected {{key: [outputs...]}}")
    if not episodes:
        raise AgentConfigError(f"replay file {p} holds no outputs")
    return episodes


class ReplayModel:
    """Plays back recorded outputs, one episode per ``reset``.

    When an episode runs out it answers ``submit``. Entries a ``.traj`` recorded as
    loop exits (``exit_context``, ``exit_cost``, ...) end the replay the same way.
    """

    def __init__(self, path: str | os.PathLike[str], *, start: int = 0) -> None:
        self.path = str(path)
        self.episodes = load_replay(path)
        self._next = start % len(self.episodes)
        self._items: list[_ReplayItem] = []
        self._started = False
        self._pos = 0
        self._last = ""

    def reset(self, task_config: dict[str, Any] | None = None) -> None:
        """Starts the next recorded episode (the last one again when none is left)."""
        self._items = self.episodes[min(self._next, len(self.episodes) - 1)]
        self._next += 1
        self._pos = 0
        self._started = True

    def query(self, messages: Messages) -> str:
        if not self._started:
            self.reset()
        if self._pos >= len(self._items):
            logger.warning("replay %s: no recorded outputs left; submitting", self.path)
            self._last = fence("submit", "DISCUSSION\nThe recording ends here; submitting.\n\n")
            return self._last
        item = self._items[self._pos]
        self._pos += 1
        self._last = item.content
        if item.action == "exit_context":
            raise ContextWindowExceededError("replayed: the recorded run ran out of context")
        if item.action == "exit_cost":
            raise CostLimitExceededError("replayed: the recorded run hit its cost limit")
        if item.action == "exit_api":
            raise APIError("replayed: the recorded run had an API error")
        if item.action == "exit_error":
            raise ModelRuntimeError("replayed: the recorded run had a runtime error")
        return item.content

    def requery(self, messages: Messages, error: str) -> str:
        # A .traj records only outputs that parsed, except where the recorded run ended
        # with exit_format: there the same output is answered again, so the replay ends
        # the same way. Otherwise (e.g. a hand-written JSONL) the next output is used.
        if self._pos and self._items[self._pos - 1].action == "exit_format":
            return self._last
        return self.query(messages)

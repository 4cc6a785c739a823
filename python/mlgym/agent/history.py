"""History processors: what part of the conversation the model sees on each turn.

A history entry is a dict with ``role`` (``system``/``user``/``assistant``) and
``content``; demonstration entries carry ``is_demo: True``. A processor returns a new
list and never changes the entries it was given.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlgym.agent.errors import AgentConfigError

History = list[dict[str, Any]]


class HistoryProcessor(Protocol):
    def __call__(self, history: History) -> History: ...


class DefaultHistoryProcessor:
    """Everything, unchanged."""

    def __call__(self, history: History) -> History:
        return list(history)


class LastNObservations:
    """Keeps the full text of only the first and the last ``n`` observations.

    System, assistant and demonstration entries are always kept. Among the other user
    entries, the first one (the task) and the last ``n`` are kept; every other one is
    replaced by ``Old output omitted (<lines> lines)``, where ``<lines>`` counts the
    lines of the original content.
    """

    def __init__(self, n: int) -> None:
        if int(n) < 0:
            raise AgentConfigError(f"LastNObservations needs n >= 0, got {n}")
        self.n = int(n)

    def __call__(self, history: History) -> History:
        observations = [
            i for i, e in enumerate(history) if e.get("role") == "user" and not e.get("is_demo")
        ]
        keep = set(observations[:1])
        if self.n:
            keep.update(observations[-self.n :])
        out: History = []
        for i, entry in enumerate(history):
            if i in observations and i not in keep:
                lines = len(str(entry.get("content", "")).splitlines())
                entry = {**entry, "content": f"Old output omitted ({lines} lines)"}
            out.append(entry)
        return out


class Last2Observations(LastNObservations):
    def __init__(self) -> None:
        super().__init__(2)


class Last5Observations(LastNObservations):
    def __init__(self) -> None:
        super().__init__(5)


class Last100Observations(LastNObservations):
    def __init__(self) -> None:
        super().__init__(100)


PROCESSORS: dict[str, type] = {
    "DefaultHistoryProcessor": DefaultHistoryProcessor,
    "LastNObservations": LastNObservations,
    "Last2Observations": Last2Observations,
    "Last5Observations": Last5Observations,
    "Last100Observations": Last100Observations,
}


def get_history_processor(name: str, **kwargs: Any) -> HistoryProcessor:
    """The processor registered under ``name`` (MLGym's class names), built with kwargs."""
    try:
        cls = PROCESSORS[name]
    except KeyError:
        known = ", ".join(sorted(PROCESSORS))
        raise AgentConfigError(f"unknown history_processor {name!r} (known: {known})") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise AgentConfigError(f"history_processor {name}: {exc}") from exc

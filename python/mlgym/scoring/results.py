"""Finding run directories and reading their ``results.json``.

Run directory names are parsed by :mod:`mlgym.runs` (the module ``mlgym run`` names
them with); names that do not match take the first two ``__`` fields as the model and
the task.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgym.errors import ScoringError
from mlgym.runs import RunName, read_json_object
from mlgym.runs import parse_run_name as _parse_run_name

RESULTS_FILE = "results.json"


def parse_run_name(name: str) -> RunName | None:
    """:func:`mlgym.runs.parse_run_name`, with ``run`` 0 when the name has no
    ``_run_<i>`` (scoring counts such a directory as run 0)."""
    parsed = _parse_run_name(name)
    if parsed is not None and parsed.run is None:
        parsed = dataclasses.replace(parsed, run=0)
    return parsed


@dataclass
class RunResult:
    """One run: where it is, what its name says, and its recorded scores."""

    path: Path
    name: RunName
    #: Every metrics dict the agent got (each validate, then the final submission).
    agent: list[dict[str, Any]] = field(default_factory=list)
    #: The baseline's metrics, if recorded.
    baseline: dict[str, Any] | None = None

    @property
    def model(self) -> str:
        return self.name.model

    @property
    def task(self) -> str:
        return self.name.task

    def metric_values(self, metric: str) -> list[float]:
        """The values of ``metric`` over the agent's entries that have it, in order."""
        return [v for e in self.agent if (v := as_number(e.get(metric))) is not None]

    def best(self, metric: str, maximize: bool) -> float | None:
        """Best entry for ``metric`` (strict comparison: ties keep the earliest)."""
        best: float | None = None
        for v in self.metric_values(metric):
            if best is None or (v > best if maximize else v < best):
                best = v
        return best

    def last(self, metric: str) -> float | None:
        """``metric`` of the final entry (the submission, or the last validation)."""
        if not self.agent:
            return None
        return as_number(self.agent[-1].get(metric))

    def baseline_value(self, metric: str) -> float | None:
        if not self.baseline:
            return None
        return as_number(self.baseline.get(metric))


def as_number(value: Any) -> float | None:
    """A metric value as float; ``None`` for missing, non-numeric or NaN values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return None if math.isnan(f) else f


def load_results(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], dict | None]:
    """Read one ``results.json``: ``(agent entries, baseline or None)``.

    Raises :class:`ScoringError` naming the file when it is unreadable, not JSON, or
    not shaped like ``{"agent": [{...}, ...], "baseline": {...}}``.
    """
    p = Path(path)
    data = read_json_object(p, "results.json", ScoringError, " with 'agent' and 'baseline'")
    agent = data.get("agent", [])
    if agent is None:
        agent = []
    if not isinstance(agent, list) or not all(isinstance(e, dict) for e in agent):
        raise ScoringError(f"{p}: malformed results.json: 'agent' must be a list of metric objects")
    baseline = data.get("baseline")
    if baseline is not None and not isinstance(baseline, dict):
        raise ScoringError(f"{p}: malformed results.json: 'baseline' must be a metric object")
    return agent, baseline


def _walk_results(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        if RESULTS_FILE in filenames:
            yield Path(dirpath) / RESULTS_FILE


def discover_runs(
    runs_dir: str | os.PathLike[str],
    models: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    match: str | None = None,
    strict: bool = True,
    skipped: list[str] | None = None,
) -> list[RunResult]:
    """Every run under ``runs_dir`` (searched recursively for ``results.json``).

    ``models``/``tasks`` keep only those names; ``match`` is a glob on the directory
    name (MLGym's ``traj_pattern``). With ``strict`` a malformed ``results.json``
    raises :class:`ScoringError`; otherwise it is skipped and described in ``skipped``.
    Runs come back sorted by (model, task, directory name).
    """
    root = Path(runs_dir).expanduser()
    if not root.exists():
        raise ScoringError(f"runs directory {root} does not exist")
    if not root.is_dir():
        raise ScoringError(f"runs directory {root} is not a directory")
    keep_models = set(models) if models is not None else None
    keep_tasks = set(tasks) if tasks is not None else None
    runs: list[RunResult] = []
    for results_path in _walk_results(root):
        run_dir = results_path.parent
        name = parse_run_name(run_dir.name)
        if name is None:
            if skipped is not None:
                skipped.append(f"{run_dir}: directory name is not <model>__<task>__...")
            continue
        if keep_models is not None and name.model not in keep_models:
            continue
        if keep_tasks is not None and name.task not in keep_tasks:
            continue
        if match and not fnmatch.fnmatchcase(run_dir.name, match):
            continue
        try:
            agent, baseline = load_results(results_path)
        except ScoringError as err:
            if strict:
                raise
            if skipped is not None:
                skipped.append(str(err))
            continue
        runs.append(RunResult(run_dir, name, agent, baseline))
    runs.sort(key=lambda r: (r.model, r.task, r.name.run, r.path.name, str(r.path)))
    return runs


def group_runs(runs: Iterable[RunResult]) -> dict[tuple[str, str], list[RunResult]]:
    """Runs keyed by ``(model, task)``."""
    out: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        out.setdefault((r.model, r.task), []).append(r)
    return out


def metric_names(runs: Iterable[RunResult]) -> list[str]:
    """Metric keys in order of first appearance (baseline first, then agent entries)."""
    seen: dict[str, None] = {}
    for r in runs:
        for k in (r.baseline or {}).keys():
            seen.setdefault(k, None)
        for e in r.agent:
            for k in e:
                seen.setdefault(k, None)
    return list(seen)


def first_baseline(runs: Iterable[RunResult], metric: str) -> float | None:
    """The first recorded baseline value of ``metric`` (runs in the given order)."""
    for r in runs:
        v = r.baseline_value(metric)
        if v is not None:
            return v
    return None


__all__ = [
    "RESULTS_FILE",
    "RunName",
    "RunResult",
    "ScoringError",
    "as_number",
    "discover_runs",
    "first_baseline",
    "group_runs",
    "load_results",
    "metric_names",
    "parse_run_name",
]

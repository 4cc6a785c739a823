"""Best-attempt and last-attempt score tables, and rank tables.

Scores are kept at full precision; they are rounded to 3 decimals only when written.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlgym.scoring.registry import BASELINE, TaskMetric
from mlgym.scoring.results import RunResult, first_baseline, group_runs

Kind = Literal["best", "last"]
NAN = float("nan")

#: Rows appended to the rank tables.
MEAN_RANK_ROW = "Plackett-Luce"
BORDA_ROW = "BORDA"


@dataclass
class ScoreTable:
    """One score per (task, solver); ``nan`` where a solver has no score."""

    kind: Kind
    tasks: list[TaskMetric]
    #: ``baseline`` first, then the models in column order.
    solvers: list[str]
    values: dict[str, dict[str, float]] = field(default_factory=dict)

    def value(self, task_id: str, solver: str) -> float:
        return self.values.get(task_id, {}).get(solver, NAN)

    def task(self, task_id: str) -> TaskMetric:
        for t in self.tasks:
            if t.task_id == task_id:
                return t
        raise KeyError(task_id)

    def rows(self, decimals: int = 3) -> list[list[str]]:
        """The CSV rows: header ``Task, baseline, <models>``, one row per task."""
        out = [["Task", *self.solvers]]
        for t in self.tasks:
            out.append(
                [t.display_name]
                + [
                    format_value(self.value(t.task_id, s), decimals, exact=s == BASELINE)
                    for s in self.solvers
                ]
            )
        return out


def round_score(value: float, decimals: int = 3, exact: bool = False) -> float:
    """Round a score for a table cell.

    By default this is numpy's rounding (scale by 10**decimals, round half to even,
    scale back), which is what the published tables use for model scores: 0.8855 (stored
    as 885.5 after scaling) becomes 0.886. With ``exact`` it is Python's ``round``, which
    rounds the exact binary value and is what the published tables use for the baseline
    column: 0.7835 (really 0.78349999...) becomes 0.783.
    """
    if exact:
        return round(value, decimals)
    scale = 10.0**decimals
    scaled = value * scale
    if not math.isfinite(scaled) or abs(scaled) >= 2.0**52:
        return value  # no fractional digits left at this precision
    return round(scaled) / scale


def format_value(value: float | None, decimals: int = 3, exact: bool = False) -> str:
    """A table cell: empty for NaN, else the shortest repr of the rounded value."""
    if value is None or math.isnan(value):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(round_score(value, decimals, exact) + 0.0)


def _better(direction: str, a: float, b: float) -> bool:
    return a > b if direction == "maximize" else a < b


def _pick(direction: str, values: Iterable[float]) -> float:
    best = NAN
    for v in values:
        if math.isnan(best) or _better(direction, v, best):
            best = v
    return best


def compute_score_tables(
    runs: Sequence[RunResult], tasks: Sequence[TaskMetric], models: Sequence[str]
) -> tuple[ScoreTable, ScoreTable]:
    """The best-attempt and last-attempt tables.

    Per run, the best attempt is its best entry for the task's metric (ties keep the
    earliest) and the last attempt is its final entry. A model's score is the best of
    its runs, separately for best and last. The baseline is the first recorded one,
    taking runs in model order.
    """
    grouped = group_runs(runs)
    solvers = [BASELINE, *models]
    best = ScoreTable("best", list(tasks), solvers)
    last = ScoreTable("last", list(tasks), solvers)
    for t in tasks:
        ordered = [r for m in models for r in grouped.get((m, t.task_id), [])]
        base = first_baseline(ordered, t.metric)
        b_row: dict[str, float] = {BASELINE: NAN if base is None else base}
        l_row: dict[str, float] = {BASELINE: b_row[BASELINE]}
        maximize = t.direction == "maximize"
        for m in models:
            model_runs = grouped.get((m, t.task_id), [])
            bests = [v for r in model_runs if (v := r.best(t.metric, maximize)) is not None]
            lasts = [
                v
                for r in model_runs
                if r.metric_values(t.metric) and (v := r.last(t.metric)) is not None
            ]
            b_row[m] = _pick(t.direction, bests)
            l_row[m] = _pick(t.direction, lasts)
        best.values[t.task_id] = b_row
        last.values[t.task_id] = l_row
    return best, last


@dataclass
class RankTable:
    """Solvers in rank order per task, plus the mean-rank and Borda aggregates."""

    kind: Kind
    tasks: list[TaskMetric]
    solvers: list[str]
    #: task id -> solvers, best first; unscored solvers last, in column order.
    order: dict[str, list[str]]
    #: Mean 1-based position over tasks (MLGym labels this row ``Plackett-Luce``).
    mean_rank: dict[str, float]
    #: Sum over tasks of (number of solvers - 0-based position).
    borda: dict[str, int]

    @property
    def mean_rank_order(self) -> list[str]:
        return sorted(self.solvers, key=lambda s: self.mean_rank[s])

    @property
    def borda_order(self) -> list[str]:
        return sorted(self.solvers, key=lambda s: -self.borda[s])

    def rows(self) -> list[list[str]]:
        """CSV rows: header ``Rank,1..N``, one row per task, then the two aggregates."""
        out = [["Rank", *[str(i) for i in range(1, len(self.solvers) + 1)]]]
        for t in self.tasks:
            out.append([t.display_name, *self.order[t.task_id]])
        out.append([MEAN_RANK_ROW, *self.mean_rank_order])
        out.append([BORDA_ROW, *self.borda_order])
        return out


def compute_ranks(table: ScoreTable) -> RankTable:
    """Rank solvers per task by score (the task's direction), stable on ties."""
    n = len(table.solvers)
    order: dict[str, list[str]] = {}
    positions: dict[str, list[int]] = {s: [] for s in table.solvers}
    for t in table.tasks:
        scored = [s for s in table.solvers if not math.isnan(table.value(t.task_id, s))]
        unscored = [s for s in table.solvers if s not in scored]
        sign = -1.0 if t.direction == "maximize" else 1.0
        scored.sort(key=lambda s, tid=t.task_id, sg=sign: sg * table.value(tid, s))
        ranked = scored + unscored
        order[t.task_id] = ranked
        for i, s in enumerate(ranked):
            positions[s].append(i)
    mean_rank = {s: (sum(p) / len(p) + 1.0) if p else NAN for s, p in positions.items()}
    borda = {s: sum(n - i for i in p) for s, p in positions.items()}
    return RankTable(table.kind, table.tasks, table.solvers, order, mean_rank, borda)


def write_csv(path: str | os.PathLike[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write rows with the csv module (``\\n`` line endings); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        for row in rows:
            writer.writerow(row)
    return p


def read_score_csv(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Read a score table CSV (ours or MLGym's) into ``{row name: {column: value}}``."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        out: dict[str, dict[str, float]] = {}
        for row in reader:
            if not row:
                continue
            out[row[0]] = {
                col: (float(cell) if cell.strip() else NAN)
                for col, cell in zip(header[1:], row[1:], strict=False)
            }
    return out


def as_mapping(table: ScoreTable) -> Mapping[str, Mapping[str, float]]:
    """``{task display name: {solver: score}}`` (full precision)."""
    return {t.display_name: dict(table.values[t.task_id]) for t in table.tasks}

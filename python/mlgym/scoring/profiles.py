"""Performance ratios, performance profiles and the area under them (AUP).

Definitions follow the MLGym paper's scoring (docs/scoring.md):

* A solver (a model or the baseline) is *feasible* on a task when its score is a
  number, is not negative, and is at least as good as the baseline.
* Among feasible solvers, the ratio of a solver is how many times worse it is than the
  best one (``best / s`` when maximizing, ``s / best`` when minimizing), so the best
  solver has ratio 1. Infeasible and missing solvers get ``worst ratio * (1 + eps)``.
* ``tau_t = ceil(worst ratio * (1 + eps))``.
* The profile of a solver at ``tau`` is the share of tasks whose ``log10(ratio) <= tau``.
* AUP is a left Riemann sum of the profile over ``numpy.linspace(0, T, 500)``, with
  ``T = ceil(10 * log10(max tau)) / 10``, rounded to 3 decimals.

Guards that MLGym lacks (they never trigger on MLGym-Bench): a missing baseline only
drops the "at least as good as the baseline" condition; a feasible score of zero that
would be divided by is treated as infeasible (or, when every feasible score is zero,
they all get ratio 1); when no solver is feasible, every ratio is infinite and the task
does not take part in choosing ``T``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlgym.scoring.tables import ScoreTable

EPSILON = 0.05
GRID_POINTS = 500


@dataclass
class TaskRatios:
    """Performance ratios of every solver on one task."""

    task_id: str
    ratios: dict[str, float]
    feasible: list[str]
    #: ``best / worst`` over feasible solvers (maximize), ``worst / best`` (minimize).
    worst_ratio: float
    #: ``ceil(worst_ratio * (1 + eps))``; ``None`` when no solver is feasible.
    tau: int | None


def performance_ratios(
    scores: Mapping[str, float],
    baseline: float | None,
    direction: str,
    task_id: str = "",
    eps: float = EPSILON,
) -> TaskRatios:
    """Ratios for one task. ``scores`` maps every solver (baseline included) to its
    score, NaN when missing; ``baseline`` is the baseline's score or ``None``/NaN."""
    maximize = direction == "maximize"
    has_base = baseline is not None and not math.isnan(baseline)

    def feasible(s: float) -> bool:
        if s is None or not math.isfinite(s) or s < 0:
            return False
        if not has_base:
            return True
        return s >= baseline if maximize else s <= baseline  # type: ignore[operator]

    feas = [m for m, s in scores.items() if feasible(s)]
    ratios: dict[str, float] = {}
    if maximize:
        positive = [m for m in feas if scores[m] > 0]
        if positive:
            best = max(scores[m] for m in positive)
            ratios = {m: best / scores[m] for m in positive}
            feas = positive
        else:
            ratios = dict.fromkeys(feas, 1.0)
    elif feas:
        best = min(scores[m] for m in feas)
        if best > 0:
            ratios = {m: scores[m] / best for m in feas}
        else:
            feas = [m for m in feas if scores[m] == 0]
            ratios = dict.fromkeys(feas, 1.0)
    if feas:
        worst_ratio = max(ratios.values())
        penalty = worst_ratio * (1.0 + eps)
        tau: int | None = math.ceil(penalty)
    else:
        worst_ratio = math.inf
        penalty = math.inf
        tau = None
    out = {m: ratios.get(m, penalty) for m in scores}
    return TaskRatios(task_id, out, feas, worst_ratio, tau)


def table_ratios(table: ScoreTable, eps: float = EPSILON) -> dict[str, TaskRatios]:
    """Ratios for every task of a score table (the baseline column is a solver)."""
    out: dict[str, TaskRatios] = {}
    for t in table.tasks:
        row = {s: table.value(t.task_id, s) for s in table.solvers}
        base = table.value(t.task_id, "baseline")
        out[t.task_id] = performance_ratios(row, base, t.direction, t.task_id, eps)
    return out


def profile_horizon(taus: Iterable[int | None]) -> float:
    """``T = ceil(10 * log10(max tau)) / 10`` (1.0 when there is no tau)."""
    known = [t for t in taus if t is not None]
    if not known:
        return 1.0
    return math.ceil(10.0 * math.log10(max(known))) / 10.0


def tau_grid(horizon: float, points: int = GRID_POINTS) -> np.ndarray:
    """The grid ``numpy.linspace(0, T, points)``."""
    return np.linspace(0.0, horizon, points)


def performance_profiles(
    ratios: Mapping[str, TaskRatios], solvers: Sequence[str], grid: np.ndarray
) -> dict[str, np.ndarray]:
    """``rho_m(tau)`` on the grid: the share of tasks with ``log10(r) <= tau``."""
    n_tasks = len(ratios)
    out: dict[str, np.ndarray] = {}
    for s in solvers:
        logs = np.array([math.log10(tr.ratios[s]) for tr in ratios.values()], dtype=float)
        if n_tasks == 0:
            out[s] = np.zeros_like(grid)
            continue
        counts = (logs[None, :] <= grid[:, None]).sum(axis=1)
        out[s] = counts / n_tasks
    return out


def area_under_profile(profile: np.ndarray, grid: np.ndarray, decimals: int = 3) -> float:
    """Left Riemann sum ``sum_i (tau[i+1] - tau[i]) * rho(tau[i])``, rounded."""
    area = float(np.sum(np.diff(grid) * profile[:-1]))
    return round(area, decimals)


__all__ = [
    "EPSILON",
    "GRID_POINTS",
    "TaskRatios",
    "area_under_profile",
    "performance_profiles",
    "performance_ratios",
    "profile_horizon",
    "table_ratios",
    "tau_grid",
]

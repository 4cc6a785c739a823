"""Offline scoring of agent runs, as in the MLGym paper.

>>> from mlgym.scoring import score_runs
>>> report = score_runs("trajectories/me", out_dir="scores")   # doctest: +SKIP
>>> print(report.format_aup())                                  # doctest: +SKIP

Per task and model: the best attempt and the last attempt over runs; ranks (mean rank
and Borda); performance ratios against the best feasible solver; performance profiles
and the area under them (AUP). See ``docs/scoring.md``. Needs numpy (and matplotlib for
plots): ``pip install 'mlgym-rs[scoring]'``.
"""

from __future__ import annotations

from mlgym.scoring.analytics import (
    TrajectoryAnalytics,
    analyze_trajectories,
    categorize_action,
    categorize_exit_status,
)
from mlgym.scoring.profiles import (
    EPSILON,
    TaskRatios,
    area_under_profile,
    performance_profiles,
    performance_ratios,
    profile_horizon,
)
from mlgym.scoring.registry import (
    BASELINE,
    MLGYM_MODELS,
    MLGYM_TASKS,
    TaskMetric,
    load_task_metrics,
)
from mlgym.scoring.report import ScoreReport, score_results, score_runs
from mlgym.scoring.results import (
    RunName,
    RunResult,
    ScoringError,
    discover_runs,
    load_results,
    parse_run_name,
)
from mlgym.scoring.tables import RankTable, ScoreTable, read_score_csv

__all__ = [
    "BASELINE",
    "EPSILON",
    "MLGYM_MODELS",
    "MLGYM_TASKS",
    "RankTable",
    "RunName",
    "RunResult",
    "ScoreReport",
    "ScoreTable",
    "ScoringError",
    "TaskMetric",
    "TaskRatios",
    "TrajectoryAnalytics",
    "analyze_trajectories",
    "area_under_profile",
    "categorize_action",
    "categorize_exit_status",
    "discover_runs",
    "load_results",
    "load_task_metrics",
    "parse_run_name",
    "performance_profiles",
    "performance_ratios",
    "profile_horizon",
    "read_score_csv",
    "score_results",
    "score_runs",
]

"""``score_runs``: from a directory of runs to tables, ranks, profiles and AUP."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlgym.scoring.analytics import TrajectoryAnalytics, analyze_trajectories
from mlgym.scoring.profiles import (
    EPSILON,
    TaskRatios,
    area_under_profile,
    performance_profiles,
    profile_horizon,
    table_ratios,
    tau_grid,
)
from mlgym.scoring.registry import (
    BASELINE,
    MLGYM_MODELS,
    MLGYM_MODELS_PRESET,
    MLGYM_TASKS,
    TaskMetric,
    parse_metric_override,
    resolve_task_metric,
)
from mlgym.scoring.results import (
    RunResult,
    ScoringError,
    discover_runs,
    group_runs,
    metric_names,
)
from mlgym.scoring.tables import (
    RankTable,
    ScoreTable,
    compute_ranks,
    compute_score_tables,
    format_value,
    write_csv,
)

#: Files :meth:`ScoreReport.write` always produces.
TABLE_FILES = (
    "best_scores.csv",
    "last_scores.csv",
    "best_ranks.csv",
    "last_ranks.csv",
    "aup_scores.csv",
    "best_ratios.csv",
    "last_ratios.csv",
)
#: Written when trajectories (``.traj``) were found.
ANALYTICS_FILES = (
    "exit_statuses.csv",
    "exit_status_categories.csv",
    "failed_incomplete_runs.csv",
    "action_categories.csv",
)


@dataclass
class ScoreReport:
    """Everything computed from a set of runs. Scores are full precision; the writers
    round to 3 decimals."""

    tasks: list[TaskMetric]
    models: list[str]
    best: ScoreTable
    last: ScoreTable
    best_ranks: RankTable
    last_ranks: RankTable
    best_ratios: dict[str, TaskRatios]
    last_ratios: dict[str, TaskRatios]
    #: The right end ``T`` of the tau grid.
    horizon: float
    grid: np.ndarray
    best_profiles: dict[str, np.ndarray]
    last_profiles: dict[str, np.ndarray]
    #: solver -> (best AUP, last AUP), rounded to 3 decimals.
    aup: dict[str, tuple[float, float]]
    runs: list[RunResult] = field(default_factory=list)
    #: Most runs any model has on one task (the ``@N`` of ``AUP@N``).
    runs_per_task: int = 0
    analytics: TrajectoryAnalytics | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def solvers(self) -> list[str]:
        """``baseline`` then the models."""
        return [BASELINE, *self.models]

    @property
    def max_tau(self) -> int | None:
        taus = [r.tau for r in (*self.best_ratios.values(), *self.last_ratios.values())]
        known = [t for t in taus if t is not None]
        return max(known) if known else None

    def aup_rows(self) -> list[list[str]]:
        rows = [["Model", "Best AUP", "Last AUP"]]
        for s in self.solvers:
            b, la = self.aup[s]
            rows.append([s, format_value(b), format_value(la)])
        return rows

    def format_aup(self) -> str:
        """The AUP table as aligned text."""
        width = max(len("Model"), *(len(s) for s in self.solvers))
        lines = [f"{'Model':<{width}}  {'Best AUP':>8}  {'Last AUP':>8}"]
        for s in self.solvers:
            b, la = self.aup[s]
            lines.append(f"{s:<{width}}  {b:8.3f}  {la:8.3f}")
        return "\n".join(lines)

    def ratio_rows(self, kind: str) -> list[list[str]]:
        ratios = self.best_ratios if kind == "best" else self.last_ratios
        rows = [["Task", *self.solvers, "tau"]]
        for t in self.tasks:
            tr = ratios[t.task_id]
            rows.append(
                [t.display_name]
                + [format_value(tr.ratios[s], 6) for s in self.solvers]
                + ["" if tr.tau is None else str(tr.tau)]
            )
        return rows

    def write(
        self,
        out_dir: str | os.PathLike[str],
        plots: bool = True,
        formats: Sequence[str] = ("png", "pdf"),
        costs: Mapping[str, float] | None = None,
    ) -> list[Path]:
        """Write the CSV tables (and plots) into ``out_dir``; returns the paths."""
        out = Path(out_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        written = [
            write_csv(out / "best_scores.csv", self.best.rows()),
            write_csv(out / "last_scores.csv", self.last.rows()),
            write_csv(out / "best_ranks.csv", self.best_ranks.rows()),
            write_csv(out / "last_ranks.csv", self.last_ranks.rows()),
            write_csv(out / "aup_scores.csv", self.aup_rows()),
            write_csv(out / "best_ratios.csv", self.ratio_rows("best")),
            write_csv(out / "last_ratios.csv", self.ratio_rows("last")),
        ]
        a = self.analytics
        if a is not None and a.runs:
            written += [
                write_csv(out / "exit_statuses.csv", a.exit_status_rows()),
                write_csv(out / "exit_status_categories.csv", a.category_rows()),
                write_csv(out / "failed_incomplete_runs.csv", a.failed_incomplete_rows()),
                write_csv(out / "action_categories.csv", a.action_rows()),
            ]
        if plots:
            from mlgym.scoring import plots as plotting

            written += plotting.plot_performance_profiles(
                self, out / "performance_profiles", formats
            )
            if costs is None and a is not None:
                costs = a.mean_cost()
            if costs:
                written += plotting.plot_aup_vs_cost(self, costs, out / "aup_vs_cost", formats)
        return written


def _order_models(found: Iterable[str]) -> list[str]:
    found = set(found)
    known = [m for m in MLGYM_MODELS if m in found]
    return known + sorted(found - set(known))


def _order_tasks(found: Iterable[str]) -> list[str]:
    found = set(found)
    known = [t for t in MLGYM_TASKS if t in found]
    return known + sorted(found - set(known))


def expand_models(models: Iterable[str] | None) -> list[str] | None:
    """Expand the ``mlgym-bench`` preset and comma-separated entries; keep order."""
    if models is None:
        return None
    out: list[str] = []
    for entry in models:
        for m in str(entry).split(","):
            m = m.strip()
            if not m:
                continue
            for name in MLGYM_MODELS if m == MLGYM_MODELS_PRESET else (m,):
                if name not in out:
                    out.append(name)
    return out or None


def _overrides(
    metrics: Mapping[str, str | TaskMetric] | Iterable[str] | None,
) -> dict[str, TaskMetric]:
    if metrics is None:
        return {}
    out: dict[str, TaskMetric] = {}
    if isinstance(metrics, Mapping):
        for task, spec in metrics.items():
            if isinstance(spec, TaskMetric):
                out[task] = spec
            else:
                out[task] = parse_metric_override(f"{task}={spec}")
    else:
        for text in metrics:
            o = parse_metric_override(text)
            out[o.task_id] = o
    return out


def score_results(
    runs: Sequence[RunResult],
    models: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    config_root: str | os.PathLike[str] | None = None,
    metrics: Mapping[str, str | TaskMetric] | Iterable[str] | None = None,
    eps: float = EPSILON,
) -> ScoreReport:
    """Score runs that are already loaded (see :func:`score_runs`)."""
    warn: list[str] = []
    model_list = expand_models(models) or _order_models(r.model for r in runs)
    present = {r.model for r in runs}
    for m in model_list:
        if m not in present:
            warn.append(f"model {m!r} has no runs; its column is empty")
    runs = [r for r in runs if r.model in set(model_list)]
    task_ids = list(tasks) if tasks else _order_tasks(r.task for r in runs)
    overrides = _overrides(metrics)
    by_task = {t: [r for r in runs if r.task == t] for t in task_ids}
    task_metrics: list[TaskMetric] = []
    for t in task_ids:
        tm = resolve_task_metric(t, overrides, metric_names(by_task[t]), config_root)
        if tm is None:
            warn.append(f"task {t!r}: no metric known and none recorded; task left out")
            continue
        if tm.source == "fallback":
            warn.append(
                f"task {t!r}: no metric in a task YAML or MLGym's registry; "
                f"scoring {tm.metric!r} (maximize). Use --metric {t}=NAME:DIRECTION to choose"
            )
        task_metrics.append(tm)
    if not task_metrics:
        raise ScoringError("no task could be scored (no runs with metrics)")

    best, last = compute_score_tables(runs, task_metrics, model_list)
    best_ratios = table_ratios(best, eps)
    last_ratios = table_ratios(last, eps)
    horizon = profile_horizon([r.tau for r in (*best_ratios.values(), *last_ratios.values())])
    grid = tau_grid(horizon)
    solvers = [BASELINE, *model_list]
    best_profiles = performance_profiles(best_ratios, solvers, grid)
    last_profiles = performance_profiles(last_ratios, solvers, grid)
    aup = {
        s: (
            area_under_profile(best_profiles[s], grid),
            area_under_profile(last_profiles[s], grid),
        )
        for s in solvers
    }
    for t in task_metrics:
        if math.isnan(best.value(t.task_id, BASELINE)):
            warn.append(f"task {t.task_id!r}: no baseline {t.metric!r} recorded")
    grouped = group_runs(runs)
    per_task = max((len(v) for v in grouped.values()), default=0)
    return ScoreReport(
        tasks=task_metrics,
        models=model_list,
        best=best,
        last=last,
        best_ranks=compute_ranks(best),
        last_ranks=compute_ranks(last),
        best_ratios=best_ratios,
        last_ratios=last_ratios,
        horizon=horizon,
        grid=grid,
        best_profiles=best_profiles,
        last_profiles=last_profiles,
        aup=aup,
        runs=list(runs),
        runs_per_task=per_task,
        warnings=warn,
    )


def score_runs(
    runs_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    models: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    config_root: str | os.PathLike[str] | None = None,
    metrics: Mapping[str, str | TaskMetric] | Iterable[str] | None = None,
    match: str | None = None,
    strict: bool = True,
    analytics: bool = True,
    plots: bool = True,
    plot_formats: Sequence[str] = ("png", "pdf"),
    prices: dict[str, tuple[float, float]] | None = None,
    eps: float = EPSILON,
    traj_dir: str | os.PathLike[str] | None = None,
) -> ScoreReport:
    """Score every run under ``runs_dir`` the way the MLGym paper does.

    Args:
        runs_dir: searched recursively for ``<model>__<task>__...[_run_<i>]/results.json``.
        out_dir: if given, the tables (and plots unless ``plots=False``) are written there.
        models: model names (columns, in this order); ``"mlgym-bench"`` expands to the 12
            models of the published tables. Default: every model found.
        tasks: task ids (rows, in this order). Default: every task found.
        config_root: a root holding ``configs/tasks/*.yaml``, searched before
            ``MLGYM_CONFIG_ROOT`` and the bundled tasks for each task's metric (see
            :func:`mlgym.task_metric`).
        metrics: per-task metric overrides, ``{"task": "metric:minimize"}`` or
            ``["task=metric:minimize"]``.
        match: glob on run directory names (MLGym's ``traj_pattern``).
        strict: raise :class:`ScoringError` on a malformed ``results.json`` or ``.traj``
            (otherwise skip it with a warning).
        analytics: also summarise ``.traj`` files (exit statuses, actions, cost).
        prices: ``{model: (USD per 1M input tokens, USD per 1M output tokens)}`` to
            recompute costs for the AUP-vs-cost plot (default: recorded ``total_cost``).
        eps: the infeasibility penalty of the performance ratios.
        traj_dir: where to look for the ``.traj`` files of the analytics and of the
            AUP-vs-cost plot (default: ``runs_dir``). MLGym-Bench's published
            ``results.json`` files come without their trajectories, for instance.
    """
    skipped: list[str] = []
    model_filter = expand_models(models)
    runs = discover_runs(
        runs_dir, models=model_filter, tasks=tasks, match=match, strict=strict, skipped=skipped
    )
    if not runs:
        raise ScoringError(
            f"no runs found under {Path(runs_dir).expanduser()} (expected run directories "
            "named <model>__<task>__... holding results.json)"
        )
    report = score_results(runs, model_filter, tasks, config_root, metrics, eps)
    report.warnings[:0] = [f"skipped {s}" for s in skipped]
    if analytics:
        traj_skipped: list[str] = []
        run_models = report.models
        a = analyze_trajectories(
            runs_dir if traj_dir is None else traj_dir,
            run_models,
            [t.task_id for t in report.tasks],
            strict,
            traj_skipped,
            match=match,
        )
        report.analytics = a if a.runs else None
        report.warnings += [f"skipped {s}" for s in traj_skipped]
    if out_dir is not None:
        costs = report.analytics.mean_cost(prices) if report.analytics else None
        report.write(out_dir, plots=plots, formats=plot_formats, costs=costs)
    return report

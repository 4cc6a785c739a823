"""Summaries read from ``.traj`` files: exit-status categories, failed and incomplete
runs, action categories, and cost per run."""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgym.errors import TrajectoryError
from mlgym.runs import load_traj
from mlgym.scoring.results import (
    RESULTS_FILE,
    ScoringError,
    as_number,
    load_results,
    parse_run_name,
)

# Exit status -> the categories it counts in (docs/scoring.md, exit statuses).
EXIT_STATUS_CATEGORIES: dict[str, tuple[str, ...]] = {
    "submitted": ("Success",),
    "autosubmission (max_steps)": ("Max Steps",),
    "autosubmission (exit_context)": ("Context",),
    "autosubmission (exit_cost)": ("Cost",),
    "autosubmission (exit_format)": ("Format",),
    "autosubmission (exit_api)": ("API",),
    "submission_not_found (exit_format)": ("Evaluation", "Format"),
    "evaluation_format_error (exit_format)": ("Evaluation", "Format"),
    "submission_not_found (exit_context)": ("Evaluation", "Context"),
    "evaluation_format_error (exit_context)": ("Evaluation", "Context"),
    "evaluation_format_error (exit_cost)": ("Evaluation", "Cost"),
    "evaluation_format_error (submit)": ("Evaluation", "Submit"),
    "submission_not_found (max_steps)": ("Evaluation",),
    "submission_not_found (submit)": ("Evaluation",),
    "evaluation_format_error (max_steps)": ("Evaluation",),
    "unknown_error (validate)": ("Evaluation",),
    "early_exit": ("Runtime",),
    "unknown_error (ls -R data/)": ("Runtime",),
    "unknown_error (ls data/train/)": ("Runtime",),
    "unknown_error (python train.py)": ("Runtime",),
    "unknown_error (python baseline.py)": ("Runtime",),
    "unknown_error (python evaluate.py)": ("Runtime",),
    "unknown_error (torchrun --nproc_per_node=1 --standalone baseline.py)": ("Runtime",),
    "unknown_error (torchrun --nproc_per_node=2 --standalone baseline.py)": ("Runtime",),
    'unknown_error (open "data/train.csv" 0)': ("Permission",),
}

#: Column order of the category tables (unmapped statuses are appended).
CATEGORY_ORDER: tuple[str, ...] = (
    "Success",
    "Max Steps",
    "Context",
    "Cost",
    "Format",
    "API",
    "Evaluation",
    "Submit",
    "Runtime",
    "Permission",
)

COMPLETE_CATEGORIES = frozenset({"Success", "Max Steps"})

# Action category -> action prefixes; the first category whose prefix matches wins.
ACTION_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Edit", ("create", "edit", "insert")),
    ("View", ("open", "goto", "scroll_up", "scroll_down")),
    ("Validate", ("validate",)),
    ("Submit", ("submit",)),
    ("Search", ("search_dir", "search_file", "find_file")),
    ("Python", ("torchrun", "python", "python3", "accelerate", "deepspeed")),
)
ACTION_ORDER: tuple[str, ...] = tuple(c for c, _ in ACTION_CATEGORIES) + ("Bash",)


def categorize_exit_status(status: str) -> tuple[str, ...]:
    """The categories of an exit status (unmapped statuses are their own category)."""
    return EXIT_STATUS_CATEGORIES.get(status, (status,))


def categorize_action(action: str) -> str:
    """The category of one action (prefix match on the stripped action)."""
    a = action.strip()
    for category, prefixes in ACTION_CATEGORIES:
        if a.startswith(prefixes):
            return category
    return "Bash"


@dataclass
class TrajectoryRun:
    """What the summaries need from one ``.traj`` file."""

    path: Path
    model: str
    task: str
    exit_status: str
    actions: list[str]
    has_scores: bool
    total_cost: float | None
    tokens_sent: float | None
    tokens_received: float | None

    @property
    def categories(self) -> tuple[str, ...]:
        return categorize_exit_status(self.exit_status)

    @property
    def failed(self) -> bool:
        """No agent scores at all."""
        return not self.has_scores

    @property
    def incomplete(self) -> bool:
        """Has scores, but ended neither by submitting nor by running out of steps."""
        return self.has_scores and not (set(self.categories) & COMPLETE_CATEGORIES)


def _last_action(traj: dict[str, Any]) -> str:
    for entry in reversed(traj.get("history") or []):
        if isinstance(entry, dict) and entry.get("role") == "assistant" and entry.get("action"):
            return str(entry["action"]).strip()
    steps = traj.get("trajectory") or []
    if steps and isinstance(steps[-1], dict):
        return str(steps[-1].get("action") or "").strip()
    return ""


def read_trajectory(path: str | os.PathLike[str]) -> TrajectoryRun:
    """Read one ``.traj``; the run's ``results.json`` (if any) decides ``has_scores``."""
    p = Path(path)
    try:
        traj = load_traj(p)
    except TrajectoryError as err:
        raise ScoringError(str(err)) from err
    info = traj.get("info") if isinstance(traj.get("info"), dict) else {}
    status = str(info.get("exit_status") or "").strip()
    if not status:
        status = f"unknown_error ({_last_action(traj)})"
    steps = traj.get("trajectory") or []
    actions = [str(s.get("action") or "") for s in steps if isinstance(s, dict)]
    results_path = p.parent / RESULTS_FILE
    if results_path.is_file():
        agent, _ = load_results(results_path)
        has_scores = bool(agent)
    else:
        has_scores = bool(info.get("score"))
    stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
    name = parse_run_name(p.parent.name)
    model = name.model if name else p.parent.name
    task = name.task if name else p.stem
    return TrajectoryRun(
        path=p,
        model=model,
        task=task,
        exit_status=status,
        actions=actions,
        has_scores=has_scores,
        total_cost=as_number(stats.get("total_cost")),
        tokens_sent=as_number(stats.get("tokens_sent")),
        tokens_received=as_number(stats.get("tokens_received")),
    )


def discover_trajectories(
    runs_dir: str | os.PathLike[str],
    models: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    strict: bool = True,
    skipped: list[str] | None = None,
    match: str | None = None,
) -> list[TrajectoryRun]:
    """Every ``*.traj`` under ``runs_dir``, sorted by path (``match``: a glob on the
    run directory name)."""
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        raise ScoringError(f"runs directory {root} does not exist or is not a directory")
    keep_models = set(models) if models is not None else None
    keep_tasks = set(tasks) if tasks is not None else None
    out: list[TrajectoryRun] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            if not fn.endswith(".traj"):
                continue
            if match and not fnmatch.fnmatchcase(Path(dirpath).name, match):
                continue
            try:
                run = read_trajectory(Path(dirpath) / fn)
            except ScoringError as err:
                if strict:
                    raise
                if skipped is not None:
                    skipped.append(str(err))
                continue
            if keep_models is not None and run.model not in keep_models:
                continue
            if keep_tasks is not None and run.task not in keep_tasks:
                continue
            out.append(run)
    return out


@dataclass
class TrajectoryAnalytics:
    """Counts over a set of trajectories."""

    runs: list[TrajectoryRun]
    models: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.models:
            self.models = sorted({r.model for r in self.runs})
        if not self.tasks:
            self.tasks = sorted({r.task for r in self.runs})

    # -- exit statuses ---------------------------------------------------------------
    def exit_statuses(self) -> Counter[str]:
        return Counter(r.exit_status for r in self.runs)

    def categories(self) -> list[str]:
        seen = {c for r in self.runs for c in r.categories}
        extra = sorted(seen - set(CATEGORY_ORDER))
        return [c for c in CATEGORY_ORDER if c in seen] + extra

    def category_counts(self, model: str | None = None) -> Counter[str]:
        """Runs per exit-status category (a run counts once in each of its categories)."""
        c: Counter[str] = Counter()
        for r in self.runs:
            if model is None or r.model == model:
                c.update(r.categories)
        return c

    def failed_incomplete(self, by: str) -> dict[str, tuple[int, int, int]]:
        """``{model or task: (runs, failed, incomplete)}``; ``by`` is ``model``/``task``."""
        keys = self.models if by == "model" else self.tasks
        out = {k: (0, 0, 0) for k in keys}
        for r in self.runs:
            k = r.model if by == "model" else r.task
            n, f, i = out.get(k, (0, 0, 0))
            out[k] = (n + 1, f + int(r.failed), i + int(r.incomplete))
        return out

    # -- actions -----------------------------------------------------------------------
    def action_counts(
        self, model: str | None = None, task: str | None = None, step: int | None = None
    ) -> Counter[str]:
        """Actions per category, optionally for one model, task or 1-based step."""
        c: Counter[str] = Counter()
        for r in self.runs:
            if (model is not None and r.model != model) or (task is not None and r.task != task):
                continue
            if step is not None:
                if step <= len(r.actions):
                    c[categorize_action(r.actions[step - 1])] += 1
                continue
            c.update(categorize_action(a) for a in r.actions)
        return c

    def max_steps(self) -> int:
        return max((len(r.actions) for r in self.runs), default=0)

    # -- cost --------------------------------------------------------------------------
    def mean_cost(self, prices: dict[str, tuple[float, float]] | None = None) -> dict[str, float]:
        """Mean cost per trajectory and model: the recorded ``total_cost``, or, for
        models in ``prices`` (USD per 1M input and output tokens), recomputed from the
        token counts. Models with no cost information are left out."""
        sums: dict[str, list[float]] = {}
        for r in self.runs:
            cost = r.total_cost
            if prices and r.model in prices and r.tokens_sent is not None:
                pin, pout = prices[r.model]
                cost = (r.tokens_sent * pin + (r.tokens_received or 0.0) * pout) / 1e6
            if cost is not None:
                sums.setdefault(r.model, []).append(cost)
        return {m: sum(v) / len(v) for m, v in sums.items() if v}

    # -- CSV rows ----------------------------------------------------------------------
    def exit_status_rows(self) -> list[list[object]]:
        rows: list[list[object]] = [["Exit status", "Categories", "Runs"]]
        for status, n in sorted(self.exit_statuses().items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append([status, " + ".join(categorize_exit_status(status)), n])
        return rows

    def category_rows(self) -> list[list[object]]:
        cats = self.categories()
        rows: list[list[object]] = [["Model", *cats, "Runs"]]
        for m in self.models:
            c = self.category_counts(m)
            rows.append([m, *[c.get(k, 0) for k in cats], sum(r.model == m for r in self.runs)])
        total = self.category_counts()
        rows.append(["Total", *[total.get(k, 0) for k in cats], len(self.runs)])
        return rows

    def failed_incomplete_rows(self) -> list[list[object]]:
        rows: list[list[object]] = [["Group", "Name", "Runs", "Failed", "Incomplete"]]
        for by in ("model", "task"):
            for k, (n, f, i) in self.failed_incomplete(by).items():
                rows.append([by, k, n, f, i])
        return rows

    def action_rows(self, max_step: int | None = None) -> list[list[object]]:
        """``Scope,Name,<categories>,Total`` for total, per model, per task, per step."""
        rows: list[list[object]] = [["Scope", "Name", *ACTION_ORDER, "Total"]]

        def add(scope: str, name: object, c: Counter[str]) -> None:
            rows.append([scope, name, *[c.get(k, 0) for k in ACTION_ORDER], sum(c.values())])

        add("total", "all", self.action_counts())
        for m in self.models:
            add("model", m, self.action_counts(model=m))
        for t in self.tasks:
            add("task", t, self.action_counts(task=t))
        last = self.max_steps() if max_step is None else min(max_step, self.max_steps())
        for step in range(1, last + 1):
            add("step", step, self.action_counts(step=step))
        return rows


def analyze_trajectories(
    runs_dir: str | os.PathLike[str],
    models: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    strict: bool = True,
    skipped: list[str] | None = None,
    match: str | None = None,
) -> TrajectoryAnalytics:
    """Read every ``.traj`` under ``runs_dir`` and summarise them."""
    runs = discover_trajectories(
        runs_dir, models, tasks, strict=strict, skipped=skipped, match=match
    )
    ordered_models = [m for m in models if any(r.model == m for r in runs)] if models else []
    return TrajectoryAnalytics(runs, models=ordered_models)

"""Which metric decides each task, in which direction, and what to call things.

The core knows (:func:`mlgym.task_metric`): the task YAML's ``metrics:`` first (the
entry marked ``primary``, else the first) when a config root has the task, MLGym's
published table second. The environment's reward uses the same rule, so the score
tables and the rewards agree. ``--metric`` overrides come before both; a task nobody
knows is scored by the first metric its results record (maximised).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import mlgym

Direction = Literal["maximize", "minimize"]

#: The solver name of the task's baseline in every table.
BASELINE = "baseline"


@dataclass(frozen=True)
class TaskMetric:
    """How one task is scored."""

    task_id: str
    #: Row name in the tables.
    display_name: str
    #: Key of the priority metric in each metrics dict of ``results.json``.
    metric: str
    direction: Direction
    #: Where this came from: ``yaml`` (the task YAML's ``metrics:``), ``mlgym`` (MLGym's
    #: table), ``baseline`` (the task YAML's first baseline metric), ``override``
    #: (``--metric``) or ``fallback`` (the first metric recorded).
    source: str = "mlgym"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b


#: MLGym-Bench's tasks, in the row order of the published tables.
MLGYM_TASKS: dict[str, TaskMetric] = {
    t["task_id"]: TaskMetric(**t, source="mlgym") for t in mlgym.mlgym_bench_tasks()
}

#: The 12 models of the published MLGym-Bench tables, in column order.
MLGYM_MODELS: tuple[str, ...] = (
    "gpt4o2",
    "gpt-o3-mini",
    "gpt-o1",
    "deepseek-r1",
    "llama3-405b-tools",
    "llama4-17b-16",
    "llama4-17b-128",
    "claude-35-sonnet-new",
    "claude-37-sonnet",
    "gemini-15-pro",
    "gemini-20-flash-thinking",
    "gemini-25-pro",
)

#: ``--models`` keyword that expands to :data:`MLGYM_MODELS`.
MLGYM_MODELS_PRESET = "mlgym-bench"

#: Readable names for plot legends (the internal run names stay in the CSVs).
MODEL_DISPLAY_NAMES: dict[str, str] = {
    "gpt4o2": "GPT-4o",
    "gpt-o3-mini": "o3-mini",
    "gpt-o1": "o1-preview",
    "deepseek-r1": "DeepSeek-R1",
    "llama3-405b-tools": "Llama-3.1-405B",
    "llama4-17b-16": "Llama-4-Scout",
    "llama4-17b-128": "Llama-4-Maverick",
    "claude-35-sonnet-new": "Claude-3.5-Sonnet",
    "claude-37-sonnet": "Claude-3.7-Sonnet",
    "gemini-15-pro": "Gemini-1.5-Pro",
    "gemini-20-flash-thinking": "Gemini-2.0-Flash-Thinking",
    "gemini-20-pro": "Gemini-2.0-Pro",
    "gemini-25-pro": "Gemini-2.5-Pro",
    BASELINE: "Baseline",
}


def display_model(model: str) -> str:
    """The legend name of a model (the model id itself when unknown)."""
    return MODEL_DISPLAY_NAMES.get(model, model)


def task_metric(
    task_id: str, config_root: str | os.PathLike[str] | None = None
) -> TaskMetric | None:
    """How ``task_id`` is scored (:func:`mlgym.task_metric`); ``None`` when neither a
    task YAML under the config roots nor MLGym's table knows it. A task YAML that does
    not load is reported with a warning and counts as unknown."""
    try:
        found = mlgym.task_metric(task_id, config_root)
    except mlgym.TaskConfigError as err:
        warnings.warn(f"task {task_id!r}: {err}", stacklevel=2)
        return None
    return None if found is None else TaskMetric(**found)


def load_task_metrics(
    config_root: str | os.PathLike[str] | None = None,
) -> dict[str, TaskMetric]:
    """How every task under the config roots is scored: ``config_root``, then
    ``MLGYM_CONFIG_ROOT``, then the bundled tasks (as :func:`mlgym.list_tasks`)."""
    found: dict[str, TaskMetric] = {}
    for task_id in mlgym.list_tasks(config_root):
        metric = task_metric(task_id, config_root)
        if metric is not None:
            found[task_id] = metric
    return found


def parse_metric_override(text: str) -> TaskMetric:
    """Parse ``TASK=METRIC[:maximize|minimize]`` (the CLI's ``--metric``)."""
    task, sep, rest = text.partition("=")
    if not sep or not task.strip() or not rest.strip():
        raise ValueError(f"--metric expects TASK=METRIC[:maximize|minimize], got {text!r}")
    metric, _, direction = rest.rpartition(":")
    if not metric or direction.lower() not in ("maximize", "minimize"):
        metric, direction = rest, "maximize"
    task = task.strip()
    return TaskMetric(task, task, metric.strip(), direction.lower(), "override")  # type: ignore[arg-type]


def resolve_task_metric(
    task_id: str,
    overrides: Mapping[str, TaskMetric] | None = None,
    sample_metrics: Iterable[str] = (),
    config_root: str | os.PathLike[str] | None = None,
) -> TaskMetric | None:
    """The metric for ``task_id``: an explicit override, else :func:`task_metric` (the
    task YAML, then MLGym's table), else the first metric seen in the task's results
    (maximised). ``None`` if the task reported no metrics at all."""
    known = task_metric(task_id, config_root)
    if overrides and task_id in overrides:
        o = overrides[task_id]
        name = known.display_name if known else task_id
        return TaskMetric(task_id, name, o.metric, o.direction, "override")
    if known is not None:
        return known
    for key in sample_metrics:
        return TaskMetric(task_id, task_id, key, "maximize", "fallback")
    return None

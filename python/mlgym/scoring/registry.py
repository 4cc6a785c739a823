"""Which metric decides each task, in which direction, and what to call things.

MLGym-Bench tasks use MLGym's fixed registry (one priority metric per task). Other
tasks take their metric from our task YAML (``metrics:`` entries with ``name``,
``direction`` and ``primary``), found under ``configs/tasks/*.yaml`` of a config root.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    #: Where this came from: ``mlgym``, ``yaml:<path>``, ``override`` or ``fallback``.
    source: str = "mlgym"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b


# MLGym-Bench, in the row order of the published tables (reference §1.16).
MLGYM_TASKS: dict[str, TaskMetric] = {
    t.task_id: t
    for t in (
        TaskMetric("regressionKaggleHousePrice", "House Price", "r2", "maximize"),
        TaskMetric("3SATTime", "3-SAT", "Time", "minimize"),
        TaskMetric("imageClassificationCifar10", "CIFAR-10", "accuracy", "maximize"),
        TaskMetric("imageClassificationFMnist", "Fashion MNIST", "accuracy", "maximize"),
        TaskMetric("imageCaptioningCOCO", "MS-COCO", "BLEU Score", "maximize"),
        TaskMetric("languageModelingFineWeb", "Language Modeling", "val_loss", "minimize"),
        TaskMetric("naturalLanguageInferenceMNLI", "MNLI", "validation_accuracy", "maximize"),
        TaskMetric("battleOfSexes", "Battle of Sexes", "Score", "maximize"),
        TaskMetric("prisonersDilemma", "Prisoners Dilemma", "Score", "maximize"),
        TaskMetric("blotto", "Blotto", "Score", "maximize"),
        TaskMetric("rlBreakoutMinAtar", "Breakout", "Reward Mean", "maximize"),
        TaskMetric("rlMetaMazeMisc", "Meta Maze", "Reward Mean", "maximize"),
        TaskMetric("rlMountainCarContinuous", "Mountain Car Continuous", "Reward Mean", "maximize"),
    )
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


def _default_roots() -> list[Path]:
    """``MLGYM_CONFIG_ROOT``, the source checkout (when running from one), the bundled root."""
    roots: list[Path] = []
    for part in os.environ.get("MLGYM_CONFIG_ROOT", "").split(os.pathsep):
        if part.strip():
            roots.append(Path(part).expanduser())
    package = Path(__file__).resolve().parents[1]
    checkout = package.parents[1]
    if (checkout / "pyproject.toml").is_file():
        roots.append(checkout)
    roots.append(package / "_bundled")
    return roots


def _metric_from_yaml(path: Path, data: Mapping[str, Any]) -> TaskMetric | None:
    task_id = str(data.get("id") or path.stem)
    name = str(data.get("name") or task_id)
    metrics = data.get("metrics") or []
    chosen: Mapping[str, Any] | None = None
    if isinstance(metrics, list):
        entries = [m for m in metrics if isinstance(m, Mapping) and m.get("name")]
        primary = [m for m in entries if m.get("primary")]
        chosen = (primary or entries or [None])[0]
    if chosen is not None:
        direction = str(chosen.get("direction", "maximize")).lower()
        if direction not in ("maximize", "minimize"):
            warnings.warn(
                f"{path}: metric {chosen['name']!r} has direction {direction!r}; "
                "expected maximize or minimize, using maximize",
                stacklevel=3,
            )
            direction = "maximize"
        return TaskMetric(task_id, name, str(chosen["name"]), direction, f"yaml:{path}")  # type: ignore[arg-type]
    # Same fallback as the env's reward: the first baseline metric, maximised.
    baselines = data.get("baseline_scores") or []
    if isinstance(baselines, list) and baselines and isinstance(baselines[0], Mapping):
        keys = list(baselines[0])
        if keys:
            return TaskMetric(task_id, name, str(keys[0]), "maximize", f"yaml:{path}")
    return None


def load_task_metrics(
    config_root: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
) -> dict[str, TaskMetric]:
    """Task metrics declared in ``configs/tasks/*.yaml`` under the config roots.

    ``config_root`` may be one root or several; ``None`` means ``MLGYM_CONFIG_ROOT``, the
    source checkout and the package's bundled tasks. Earlier roots win. Unreadable YAML
    files are skipped with a warning; no YAML at all gives an empty dict.
    """
    if config_root is None:
        roots = _default_roots()
    elif isinstance(config_root, (str, os.PathLike)):
        roots = [Path(config_root)]
    else:
        roots = [Path(r) for r in config_root]
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is a dependency of mlgym
        return {}
    found: dict[str, TaskMetric] = {}
    for root in roots:
        task_dir = Path(root).expanduser() / "configs" / "tasks"
        if not task_dir.is_dir():
            continue
        for path in sorted(task_dir.glob("*.yaml")) + sorted(task_dir.glob("*.yml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as err:
                warnings.warn(f"skipping task config {path}: {err}", stacklevel=2)
                continue
            if not isinstance(data, Mapping):
                continue
            metric = _metric_from_yaml(path, data)
            if metric is not None and metric.task_id not in found:
                found[metric.task_id] = metric
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
    yaml_metrics: Mapping[str, TaskMetric],
    overrides: Mapping[str, TaskMetric] | None = None,
    sample_metrics: Iterable[str] = (),
) -> TaskMetric | None:
    """The metric for ``task_id``: an explicit override, MLGym's registry, the task YAML,
    else the first metric seen in the task's results (maximised). ``None`` if the task
    reported no metrics at all."""
    if overrides and task_id in overrides:
        o = overrides[task_id]
        known = MLGYM_TASKS.get(task_id) or yaml_metrics.get(task_id)
        name = known.display_name if known else task_id
        return TaskMetric(task_id, name, o.metric, o.direction, "override")
    if task_id in MLGYM_TASKS:
        return MLGYM_TASKS[task_id]
    if task_id in yaml_metrics:
        return yaml_metrics[task_id]
    for key in sample_metrics:
        return TaskMetric(task_id, task_id, key, "maximize", "fallback")
    return None

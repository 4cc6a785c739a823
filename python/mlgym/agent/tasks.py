"""Finding the task of ``mlgym run`` and applying its command-line task overrides.

Where the task YAML is and which root its relative paths refer to come from the core
(:func:`mlgym.task_info`). The core has no API for overriding task fields, so an
override rewrites the task YAML into a temporary folder, with its root-relative paths
made absolute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Task fields holding paths relative to the config root.
ROOT_RELATIVE = (
    "starter_code",
    "secret_files",
    "requirements_path",
    "sample_submission",
    "memory_path",
)


@dataclass
class ResolvedTask:
    """The task a run plays."""

    #: What ``mlgym.make`` receives (the task YAML, or its rewritten copy).
    ref: str
    #: The task's own YAML file.
    yaml_path: Path
    #: The task config (``mlgym.load_task``), overrides applied.
    config: dict[str, Any]


def resolve_task(
    ref: str, config_root: str | None, overrides: dict[str, Any], tmp_dir: Path
) -> ResolvedTask:
    """Finds the task (a path relative to a root's ``configs/``, a path, or a task id)
    and applies command-line ``overrides`` through a rewritten YAML in ``tmp_dir``.

    Raises :class:`mlgym.TaskNotFoundError` (with suggestions) or
    :class:`mlgym.TaskConfigError`.
    """
    import mlgym

    info = mlgym.task_info(ref, config_root)
    yaml_path = Path(info["yaml_path"])
    make_ref = str(yaml_path)
    if overrides:
        make_ref = str(_write_overridden(yaml_path, Path(info["root"]), overrides, tmp_dir))
    config = mlgym.load_task(make_ref, config_root)
    return ResolvedTask(ref=make_ref, yaml_path=yaml_path, config=config)


def _write_overridden(
    yaml_path: Path, root: Path, overrides: dict[str, Any], tmp_dir: Path
) -> Path:
    data = yaml.safe_load(yaml_path.read_text()) or {}
    data.update(overrides)
    for key in ROOT_RELATIVE:
        value = data.get(key)
        if isinstance(value, list):
            data[key] = [str((root / v).resolve()) for v in value]
        elif isinstance(value, str) and value:
            data[key] = str((root / value).resolve())
    if data.get("dataset_configs"):
        data["dataset_configs"] = [
            str((root / "configs" / d).resolve()) for d in data["dataset_configs"]
        ]
    tmp_dir.mkdir(parents=True, exist_ok=True)
    out = tmp_dir / f"{data.get('id', 'task')}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out

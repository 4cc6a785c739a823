"""Converting MLGym ``.traj`` files to other trajectory formats.

``atif``: the Agent Trajectory Interchange Format (Harbor's RFC 0001, v1.x): a root
object with ``schema_version``, ``session_id``, ``agent``, ``steps`` and
``final_metrics``. The system prompt and the task become ``system`` and ``user`` steps;
each trajectory step becomes an ``agent`` step whose tool call is the shell action
(``function_name: "bash"``, ``arguments: {"command": ...}``) and whose observation holds
the command output. MLGym records cost only per run, so it goes to ``final_metrics``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgym.errors import ExportError
from mlgym.runs import load_traj, parse_run_name, split_run_index

ATIF_VERSION = "ATIF-v1.6"


def _first_user(history: list[dict[str, Any]]) -> str | None:
    for entry in history:
        if entry.get("role") == "user" and not entry.get("is_demo"):
            return str(entry.get("content", ""))
    return None


def to_atif(traj: dict[str, Any], *, session_id: str, model_name: str | None = None) -> dict:
    """An ATIF document for one MLGym trajectory."""
    history = traj.get("history") or []
    info = traj.get("info") or {}
    stats = info.get("model_stats") or {}
    steps: list[dict[str, Any]] = []

    def add(step: dict[str, Any]) -> None:
        step["step_id"] = len(steps) + 1
        steps.append({"step_id": step.pop("step_id"), **step})

    system = next((e for e in history if e.get("role") == "system"), None)
    if system is not None:
        add({"source": "system", "message": str(system.get("content", ""))})
    task = _first_user(history)
    if task is not None:
        add({"source": "user", "message": task})
    for i, entry in enumerate(traj.get("trajectory") or []):
        call_id = f"call_{i + 1}"
        action = str(entry.get("action", ""))
        step: dict[str, Any] = {
            "source": "agent",
            "message": str(entry.get("thought", "")),
            "tool_calls": [
                {
                    "tool_call_id": call_id,
                    "function_name": "bash",
                    "arguments": {"command": action},
                }
            ],
            "observation": {
                "results": [{"source_call_id": call_id, "content": entry.get("observation")}]
            },
            "extra": {
                "response": entry.get("response"),
                "state": entry.get("state"),
                "execution_time": entry.get("execution_time"),
            },
        }
        if model_name:
            step["model_name"] = model_name
        add(step)
    final_metrics: dict[str, Any] = {"total_steps": len(steps)}
    if stats:
        final_metrics.update(
            total_prompt_tokens=stats.get("tokens_sent"),
            total_completion_tokens=stats.get("tokens_received"),
            total_cost_usd=stats.get("task_cost", stats.get("total_cost")),
            extra={"api_calls": stats.get("api_calls"), "total_cost": stats.get("total_cost")},
        )
    agent: dict[str, Any] = {"name": "mlgym-rs", "version": _version()}
    if model_name:
        agent["model_name"] = model_name
    return {
        "schema_version": ATIF_VERSION,
        "session_id": session_id,
        "agent": agent,
        "steps": steps,
        "final_metrics": final_metrics,
        "extra": {
            "environment": traj.get("environment"),
            "exit_status": info.get("exit_status"),
            "submission": info.get("submission"),
            "score": info.get("score"),
        },
    }


def _version() -> str:
    try:
        from mlgym import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def _model_from_dir(name: str) -> str | None:
    parsed = parse_run_name(name)
    if parsed is None:
        return split_run_index(name)[0] or None
    return parsed.model or None


def export_paths(
    paths: Sequence[str | os.PathLike[str]], *, fmt: str = "atif", output: str | None = None
) -> list[Path]:
    """Converts each ``.traj`` (folders are searched recursively); returns the files written.

    Raises :class:`~mlgym.errors.ExportError` for an unknown format, a missing path or
    no ``.traj`` at all, and :class:`~mlgym.errors.TrajectoryError` for a broken one.
    """
    if fmt != "atif":
        raise ExportError(f"unknown export format {fmt!r}")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.rglob("*.traj")))
        elif p.is_file():
            files.append(p)
        else:
            raise ExportError(f"{p} does not exist")
    if not files:
        raise ExportError("no .traj files found")
    out_path = Path(output) if output else None
    single_file = out_path is not None and len(files) == 1 and out_path.suffix == ".json"
    written: list[Path] = []
    for f in files:
        traj = load_traj(f)
        session = f"{f.parent.name}/{f.stem}"
        doc = to_atif(traj, session_id=session, model_name=_model_from_dir(f.parent.name))
        if single_file:
            target = out_path
        elif out_path is not None:
            target = out_path / f.parent.name / f"{f.stem}.atif.json"
        else:
            target = f.with_name(f"{f.stem}.atif.json")
        assert target is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc, indent=2))
        written.append(target)
    return written

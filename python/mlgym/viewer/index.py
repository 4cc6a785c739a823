"""Finding trajectories under a folder and describing them without loading them.

Run folder names are parsed by :mod:`mlgym.runs` (MLGym's
``<model>__<task>__<agent config>__t-<T>__p-<P>__c-<C>__install-<I>[__<suffix>][_run_<N>]``,
with MLGym's internal ``metagen-`` model prefix dropped; other names are split on ``__``
as well as they allow). The index reads only folder names, ``results.json`` and the end
of each ``.traj`` (where ``info`` sits), so it stays fast for large files.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlgym.errors import ViewerError
from mlgym.runs import as_float, parse_run_name, read_traj_info, split_run_index


def parse_run_dir(name: str) -> dict[str, Any]:
    """Fields of a run folder name (empty strings for what the name does not say; the
    whole name as the model when it has no ``<model>__<task>`` part)."""
    parsed = parse_run_name(name)
    if parsed is None:
        base, run = split_run_index(name)
        return {
            "model": base,
            "task": "",
            "config": "",
            "temperature": None,
            "top_p": None,
            "cost_limit": None,
            "suffix": "",
            "run": run,
        }
    return {
        "model": parsed.model,
        "task": parsed.task,
        "config": parsed.agent_config or "",
        "temperature": as_float(parsed.temperature),
        "top_p": as_float(parsed.top_p),
        "cost_limit": as_float(parsed.cost_limit),
        "suffix": parsed.suffix or "",
        "run": parsed.run,
    }


@dataclass
class RunEntry:
    """One trajectory in the index (what the list and the report need)."""

    id: int
    path: str
    folder: str
    run_dir: str
    task: str
    model: str
    config: str
    suffix: str
    run: int | None
    temperature: float | None
    top_p: float | None
    cost_limit: float | None
    size: int
    mtime: float
    exit_status: str | None = None
    model_stats: dict[str, Any] = field(default_factory=dict)
    submission: str | None = None
    scores: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    has_results: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sort_key(e: RunEntry) -> tuple:
    return (e.folder, e.task, e.model, e.suffix, e.run if e.run is not None else -1, e.path)


class TrajectoryIndex:
    """The trajectories under ``root``; :meth:`refresh` rescans (cheaply)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ViewerError(f"{self.root} is not a directory")
        self._entries: list[RunEntry] = []
        self._cache: dict[str, tuple[tuple[int, float, float], RunEntry]] = {}
        self._lock = threading.Lock()
        self.refresh()

    @property
    def entries(self) -> list[RunEntry]:
        return list(self._entries)

    def _describe(self, path: Path) -> RunEntry:
        rel = path.relative_to(self.root)
        run_dir = path.parent
        folder_rel = run_dir.parent.relative_to(self.root) if run_dir != self.root else Path()
        meta = parse_run_dir(run_dir.name if run_dir != self.root else path.stem)
        stat = path.stat()
        info = read_traj_info(path) or {}
        entry = RunEntry(
            id=-1,
            path=str(rel),
            folder=str(folder_rel) if str(folder_rel) != "." else ".",
            run_dir=run_dir.name,
            task=path.stem,
            model=meta["model"] or "?",
            config=meta["config"],
            suffix=meta["suffix"],
            run=meta["run"],
            temperature=meta["temperature"],
            top_p=meta["top_p"],
            cost_limit=meta["cost_limit"],
            size=stat.st_size,
            mtime=stat.st_mtime,
            exit_status=info.get("exit_status"),
            model_stats=info.get("model_stats") or {},
            submission=info.get("submission"),
            scores=list(info.get("score") or []),
        )
        results = run_dir / "results.json"
        if results.is_file():
            try:
                data = json.loads(results.read_text())
            except (OSError, json.JSONDecodeError):
                data = {}
            entry.has_results = True
            entry.baseline = data.get("baseline")
            if not entry.scores and data.get("agent"):
                entry.scores = list(data["agent"])
        return entry

    def refresh(self) -> list[RunEntry]:
        with self._lock:
            found: list[RunEntry] = []
            seen: set[str] = set()
            for path in sorted(self.root.rglob("*.traj")):
                if not path.is_file():
                    continue
                key = str(path)
                seen.add(key)
                try:
                    stat = path.stat()
                    results = path.parent / "results.json"
                    rmtime = results.stat().st_mtime if results.exists() else 0.0
                except OSError:
                    continue
                sig = (stat.st_size, stat.st_mtime, rmtime)
                cached = self._cache.get(key)
                if cached is None or cached[0] != sig:
                    try:
                        entry = self._describe(path)
                    except OSError:
                        continue
                    self._cache[key] = (sig, entry)
                found.append(self._cache[key][1])
            for key in list(self._cache):
                if key not in seen:
                    del self._cache[key]
            found.sort(key=_sort_key)
            for i, e in enumerate(found):
                e.id = i
            self._entries = found
            return list(found)

    def get(self, entry_id: int) -> RunEntry | None:
        entries = self._entries
        if 0 <= entry_id < len(entries):
            return entries[entry_id]
        return None

    def file_of(self, entry: RunEntry) -> Path:
        return self.root / entry.path

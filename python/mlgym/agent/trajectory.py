"""Writing MLGym's run outputs: ``<task>.traj``, ``results.json`` and ``args.yaml``.

:class:`TrajectoryWriter` keeps ``<task>.traj`` valid JSON after every step while
writing only what changed: the new trajectory step, the new history entries and the
``info`` object. The file is laid out as MLGym's (``environment``, ``trajectory``,
``history``, ``info``); a run of spaces after the ``trajectory`` array leaves room for
new steps, so appending a step never moves the history. When the room runs out the
tail is moved once and the room doubles, which keeps the cost per step constant on
average. :meth:`TrajectoryWriter.close` rewrites the file exactly as
``json.dumps(..., indent=2)`` would, which is what MLGym writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ENVIRONMENT = "mlgym_main"
_MIN_GAP = 4096
_ITEM_INDENT = "    "


def _item_text(item: Any) -> str:
    text = json.dumps(item, indent=2)
    return "\n".join(_ITEM_INDENT + line for line in text.splitlines())


def _info_text(info: dict[str, Any]) -> str:
    text = json.dumps(info, indent=2)
    return text.replace("\n", "\n  ")


def _close(count: int) -> str:
    return "\n  ]" if count else "]"


class TrajectoryWriter:
    """Writes one ``.traj`` file step by step (see the module docstring).

    ``bytes_written`` counts the bytes written so far (tests check it stays linear).
    """

    def __init__(self, path: str | os.PathLike[str], *, environment: str = ENVIRONMENT):
        self.path = Path(path)
        self.environment = environment
        self.trajectory: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        self.bytes_written = 0
        self.closed = False
        self._file: Any = None
        self._a_end = 0  # where the next trajectory item goes
        self._b_start = 0  # where '"history": [' starts
        self._b_end = 0  # where the next history entry goes

    # -- low level -------------------------------------------------------------

    def _write_at(self, offset: int, text: str, *, truncate: bool = False) -> None:
        data = text.encode("ascii")
        self._file.seek(offset)
        self._file.write(data)
        if truncate:
            self._file.truncate()
        self.bytes_written += len(data)

    def _tail(self) -> str:
        """The text from the end of the history entries to the end of the file."""
        return _close(len(self.history)) + ',\n  "info": ' + _info_text(self.info) + "\n}"

    # -- API -----------------------------------------------------------------------

    def open(
        self, history: Iterable[dict[str, Any]] = (), info: dict[str, Any] | None = None
    ) -> None:
        """Creates the file with the given history entries and info."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w+b")  # noqa: SIM115 - kept open for the run
        self.history = list(history)
        self.info = dict(info or {})
        head = '{\n  "environment": ' + json.dumps(self.environment) + ',\n  "trajectory": ['
        self._a_end = len(head)
        a_close = _close(0) + ","
        gap = " " * _MIN_GAP
        self._b_start = self._a_end + len(a_close) + len(gap) + 3  # "\n  " before "history"
        b_head = '"history": ['
        body = "".join(
            ("\n" if i == 0 else ",\n") + _item_text(e) for i, e in enumerate(self.history)
        )
        self._b_end = self._b_start + len(b_head) + len(body)
        text = head + a_close + gap + "\n  " + b_head + body + self._tail()
        self._write_at(0, text, truncate=True)
        self._file.flush()

    def append(
        self,
        step: dict[str, Any] | None = None,
        history: Iterable[dict[str, Any]] = (),
        info: dict[str, Any] | None = None,
    ) -> None:
        """Adds a trajectory step and history entries, and replaces ``info``."""
        if self._file is None:
            self.open()
        if step is not None:
            self._append_step(step)
        new = list(history)
        text = ""
        for entry in new:
            text += ("\n" if not self.history else ",\n") + _item_text(entry)
            self.history.append(entry)
        if info is not None:
            self.info = dict(info)
        self._write_at(self._b_end, text + self._tail(), truncate=True)
        self._b_end += len(text)
        self._file.flush()

    def set_info(self, info: dict[str, Any]) -> None:
        """Replaces ``info`` only."""
        self.append(None, (), info)

    def _append_step(self, step: dict[str, Any]) -> None:
        sep = "\n" if not self.trajectory else ",\n"
        self.trajectory.append(step)
        text = sep + _item_text(step) + _close(len(self.trajectory)) + ","
        room = self._b_start - 3 - self._a_end  # keep the "\n  " before "history"
        if len(text) <= room:
            self._write_at(self._a_end, text)
            self._a_end += len(text) - len(_close(len(self.trajectory)) + ",")
            return
        # Not enough room: move the history and info further down, doubling the room.
        self._file.seek(self._b_start)
        rest = self._file.read().decode("ascii")
        gap = " " * max(_MIN_GAP, self._a_end + len(text))
        new_b_start = self._a_end + len(text) + len(gap) + 3
        self._write_at(self._a_end, text + gap + "\n  " + rest, truncate=True)
        shift = new_b_start - self._b_start
        self._b_start = new_b_start
        self._b_end += shift
        self._a_end += len(text) - len(_close(len(self.trajectory)) + ",")

    def document(self) -> dict[str, Any]:
        """The whole trajectory as MLGym's JSON object."""
        return {
            "environment": self.environment,
            "trajectory": self.trajectory,
            "history": self.history,
            "info": self.info,
        }

    def close(self, info: dict[str, Any] | None = None) -> None:
        """Writes the final info and rewrites the file compactly (``indent=2``)."""
        if self.closed:
            return
        if info is not None:
            self.info = dict(info)
        if self._file is not None:
            self._file.close()
            self._file = None
        write_json(self.path, self.document())
        self.closed = True


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Writes pretty JSON (``indent=2``) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def results_document(
    scores: list[dict[str, Any]], baseline_scores: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """MLGym's ``results.json``: ``agent`` (every score), ``baseline`` when known."""
    out: dict[str, Any] = {"agent": list(scores)}
    if baseline_scores:
        out["baseline"] = baseline_scores[0]
    return out


def write_results(
    path: str | os.PathLike[str],
    scores: list[dict[str, Any]],
    baseline_scores: list[dict[str, Any]] | None,
) -> None:
    write_json(path, results_document(scores, baseline_scores))


def write_args_yaml(path: str | os.PathLike[str], args: dict[str, Any]) -> bool:
    """Writes ``args.yaml``; returns False (and keeps the old file) if one differs."""
    path = Path(path)
    text = yaml.safe_dump(args, sort_keys=False, allow_unicode=True)
    if path.exists():
        old = path.read_text()
        if old != text:
            path.with_name("args.new.yaml").write_text(text)
            return False
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def load_trajectory(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a ``.traj`` file."""
    return json.loads(Path(path).read_text())

"""Run directories: ``mlgym run`` names them and writes their ``.traj``; scoring, the
viewer and ``mlgym export`` parse the names and read the ``.traj`` files through here.

MLGym names a run directory::

    <model>__<task>__<agent config>__t-<T>__p-<P>__c-<C>__install-<I>[__<suffix>]_run_<i>

with ``:`` in the model name written as ``-``. MLGym's published corpus adds a
``metagen-`` prefix to the model (dropped when parsing) and uses the suffix
``parallel_agents``. Names without the ``t-/p-/c-/install-`` fields are split on
``__`` as well as they allow (``<model>__<task>[__<config>[__<suffix>...]]``).

A ``.traj`` (written by :class:`mlgym.agent.trajectory.TrajectoryWriter`) is one JSON
object with the keys ``environment``, ``trajectory``, ``history`` and ``info``, in that
order; ``info`` (exit status, scores, model stats) is last, so :func:`read_traj_info`
can read it from the end of a large or still-growing file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgym.errors import TrajectoryError

#: Model prefixes of MLGym's internal runs, dropped by :func:`parse_run_name`.
MODEL_PREFIXES = ("metagen-",)

_FULL = re.compile(
    r"^(?P<model>.+?)__(?P<task>.+?)__(?P<agent>.+?)"
    r"__t-(?P<temperature>[^_]+)__p-(?P<top_p>[^_]+)__c-(?P<cost>[^_]+)"
    r"__install-(?P<install>[^_]+)"
    r"(?:__(?P<suffix>.+?))?$"
)
_RUN_INDEX = re.compile(r"_run_(\d+)$")


def run_name(
    model_name: str,
    task_id: str,
    agent_config_stem: str,
    temperature: float,
    top_p: float,
    per_instance_cost_limit: float,
    suffix: str = "",
) -> str:
    """MLGym's run name (the directory name without ``_run_<i>``)."""
    name = (
        f"{model_name.replace(':', '-')}__{task_id}__{agent_config_stem}"
        f"__t-{temperature:.2f}__p-{top_p:.2f}__c-{per_instance_cost_limit:.2f}__install-0"
    )
    if suffix:
        name += f"__{suffix}"
    return name


def run_dir_name(name: str, index: int) -> str:
    """The directory of agent ``index`` of the run called ``name``."""
    return f"{name}_run_{index}"


@dataclass(frozen=True)
class RunName:
    """The fields of a run directory name, as written (numbers stay strings).

    ``run`` is ``None`` when the name has no ``_run_<i>``; the fields a lenient name
    does not have are ``None``.
    """

    model: str
    task: str
    agent_config: str | None = None
    temperature: str | None = None
    top_p: str | None = None
    cost_limit: str | None = None
    install: str | None = None
    suffix: str | None = None
    run: int | None = None

    @property
    def complete(self) -> bool:
        """Whether the name has every field MLGym writes."""
        return self.temperature is not None


def split_run_index(name: str) -> tuple[str, int | None]:
    """``("<base>", i)`` for ``<base>_run_<i>``; ``(name, None)`` otherwise."""
    m = _RUN_INDEX.search(name)
    if m is None:
        return name, None
    return name[: m.start()], int(m.group(1))


def strip_model_prefix(model: str) -> str:
    """The model without MLGym's internal prefixes (``metagen-``)."""
    for prefix in MODEL_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def parse_run_name(name: str) -> RunName | None:
    """Parses a run directory name; ``None`` when it has no ``<model>__<task>`` part."""
    base, run = split_run_index(name)
    m = _FULL.match(base)
    if m:
        return RunName(
            model=strip_model_prefix(m["model"]),
            task=m["task"],
            agent_config=m["agent"],
            temperature=m["temperature"],
            top_p=m["top_p"],
            cost_limit=m["cost"],
            install=m["install"],
            suffix=m["suffix"],
            run=run,
        )
    parts = base.split("__")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return RunName(
        model=strip_model_prefix(parts[0]),
        task=parts[1],
        agent_config=parts[2] if len(parts) > 2 else None,
        suffix="__".join(parts[3:]) or None,
        run=run,
    )


def as_float(text: str | None) -> float | None:
    """A name field as a number (``None`` when absent or not a number)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------- .traj files


def read_json_object(
    path: str | os.PathLike[str], what: str, error: type[Exception], expected: str = ""
) -> dict[str, Any]:
    """A JSON file that must hold an object; ``error`` names the file and what went wrong
    (``what`` says what the file is, ``expected`` what its object should hold)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise error(f"{p}: cannot read {what}: {err.strerror or err}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise error(
            f"{p}: malformed {what}: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from err
    if not isinstance(data, dict):
        raise error(
            f"{p}: malformed {what}: expected a JSON object{expected}, got {type(data).__name__}"
        )
    return data


def load_traj(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole ``.traj`` as a dict.

    Raises :class:`~mlgym.errors.TrajectoryError` naming the file when it cannot be
    read, is not JSON, or is not a JSON object.
    """
    return read_json_object(path, "trajectory", TrajectoryError)


def read_traj_info(path: str | os.PathLike[str], max_bytes: int = 1 << 20) -> dict[str, Any] | None:
    """The ``info`` object at the end of a ``.traj``, read without parsing the rest
    (``None`` when the last ``max_bytes`` hold no complete ``info``)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        return None
    chunk = 8192
    with open(p, "rb") as f:
        while True:
            start = max(0, size - chunk)
            f.seek(start)
            text = f.read().decode("utf-8", errors="replace")
            pos = text.rfind('"info":')
            if pos != -1:
                body = text[pos + len('"info":') :].rstrip()
                if body.endswith("}"):
                    body = body[:-1]
                try:
                    value = json.loads(body)
                except json.JSONDecodeError:
                    value = None
                if isinstance(value, dict):
                    return value
            if start == 0 or chunk >= max_bytes:
                return None
            chunk *= 4


__all__ = [
    "MODEL_PREFIXES",
    "RunName",
    "as_float",
    "load_traj",
    "parse_run_name",
    "read_traj_info",
    "run_dir_name",
    "run_name",
    "split_run_index",
    "strip_model_prefix",
]

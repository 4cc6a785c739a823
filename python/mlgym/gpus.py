"""GPU inventory and exclusive GPU leases (see ``docs/gpus.md``).

>>> import mlgym
>>> with mlgym.acquire_gpus(2) as lease:          # the two lowest free ids
...     env = {"CUDA_VISIBLE_DEVICES": lease.cuda_visible_devices}

A lease holds its ids exclusively against every other lease on this host, in this
process or in another one, until it is released, garbage-collected, or its process
exits (``kill -9`` included). The inventory comes from ``MLGYM_GPUS`` (comma-separated
ids; an empty string means no GPUs) when set, else from ``nvidia-smi``. Lock files live
in ``MLGYM_GPU_LOCK_DIR`` (default ``/tmp/mlgym-gpu-locks``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict

from mlgym import _core
from mlgym._core import GpuLease, GpuUnavailableError

__all__ = ["GpuInfo", "GpuLease", "GpuUnavailableError", "acquire_gpus", "gpu_inventory"]


class GpuInfo(TypedDict):
    """One GPU of :func:`gpu_inventory`. Values other than ``id`` may be ``None``."""

    id: str
    name: str | None
    memory_total_mb: int | None
    memory_used_mb: int | None
    utilization: float | None


def gpu_inventory() -> list[GpuInfo]:
    """The GPUs of this host, sorted by id (numeric ids in numeric order).

    From ``MLGYM_GPUS`` when it is set (then only ``id`` is known), else from
    ``nvidia-smi`` (name, memory in MiB, utilisation in percent). A missing or failing
    ``nvidia-smi`` means no GPUs.
    """
    return _core.gpu_inventory()  # type: ignore[return-value]


def acquire_gpus(
    count: int | None = None,
    ids: Sequence[int | str] | None = None,
    wait: float | None = None,
) -> GpuLease:
    """Leases GPUs exclusively: ``count`` of them (the lowest free ids) or exactly ``ids``.

    Args:
        count: how many GPUs; ``0`` gives an empty lease.
        ids: the exact GPU ids (ints or strings such as ``"0"``); each must be in
            :func:`gpu_inventory`.
        wait: seconds to keep retrying while the GPUs are taken (``None`` or ``0``: try
            once; ``math.inf``: until they are free). The GIL is released meanwhile and
            Ctrl-C interrupts the wait.

    Returns:
        A :class:`GpuLease` (``.ids``, ``.cuda_visible_devices``, ``.release()``, and a
        context manager that releases on exit).

    Raises:
        GpuUnavailableError: too few GPUs are free (MLGym's message, ``Not enough GPUs
            available. Required: X, Available: Y``), an id is leased by someone else, or
            an id is not on this host. Raised once ``wait`` is over.
        ValueError: neither or both of ``count`` and ``ids``, a negative count, a
            repeated id, or a negative ``wait``.
    """
    if (count is None) == (ids is None):
        raise ValueError("give exactly one of count= and ids=")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"count must be an int, got {type(count).__name__}")
        if count < 0:
            raise ValueError(f"count must be at least 0, got {count}")
    id_list: list[str] | None = None
    if ids is not None:
        if isinstance(ids, (str, bytes)):
            raise TypeError("ids must be a sequence of ids, e.g. [0, 1], not a string")
        id_list = [_gpu_id(i) for i in ids]
    if wait is not None:
        wait = float(wait)
        if math.isnan(wait) or wait < 0:
            raise ValueError(f"wait must be a non-negative number of seconds, got {wait}")
    return _core.acquire_gpus(count=count, ids=id_list, wait=wait)


def _gpu_id(value: int | str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"a GPU id must be an int or a str, got {value!r}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"a GPU id must be at least 0, got {value}")
    return str(value).strip()

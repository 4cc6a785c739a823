"""Which devices each agent of ``mlgym run`` gets (MLGym's ``--gpus``,
``--gpus_per_agent`` and ``--num_agents``), as exclusive GPU leases.

With ``--gpus_per_agent g > 0`` agent *i* gets ``devices[i*g:(i+1)*g]``, where the
devices are ``--gpus`` when given, else the GPUs that a lease can have right now (from
:func:`mlgym.gpu_inventory`, which honours ``MLGYM_GPUS``, minus those leased by other
processes). Each agent's environment then leases exactly its ids (``gpus=[...]``), so
a run never picks a GPU that the lease refuses. With ``g == 0`` every agent is
CPU-only (``cpu_<i>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlgym.errors import GpuUnavailableError, RunConfigError


def assign_devices(
    gpus: Sequence[int | str], gpus_per_agent: int, num_agents: int
) -> list[list[str]]:
    """MLGym's split: ``gpus_per_agent`` devices each, or ``cpu_<i>`` when it is 0.

    Raises :class:`mlgym.GpuUnavailableError` (MLGym's ``Not enough GPUs available.
    Required: X, Available: Y``) when there are too few devices.
    """
    if num_agents < 1:
        raise RunConfigError("--num_agents must be at least 1")
    if gpus_per_agent <= 0:
        return [[f"cpu_{i}"] for i in range(num_agents)]
    required = gpus_per_agent * num_agents
    if gpus:
        devices = [str(g) for g in gpus]
        if required > len(devices):
            raise GpuUnavailableError(
                f"Not enough GPUs available. Required: {required}, Available: {len(devices)}"
            )
    else:
        devices = free_gpus(required)
    return [devices[i * gpus_per_agent : (i + 1) * gpus_per_agent] for i in range(num_agents)]


def free_gpus(count: int) -> list[str]:
    """The ``count`` lowest GPU ids of :func:`mlgym.gpu_inventory` that no lease holds
    now (a lease taken and released at once); the core's ``GpuUnavailableError`` when
    there are fewer."""
    import mlgym

    with mlgym.acquire_gpus(count=count) as lease:
        return list(lease.ids)


def device_kwargs(devices: Sequence[str]) -> dict[str, Any]:
    """``mlgym.make`` keywords for one agent's devices: an exclusive lease of exactly
    these GPU ids (a device request for containers, ``CUDA_VISIBLE_DEVICES`` locally)."""
    gpus = [d for d in devices if not d.startswith("cpu")]
    return {"gpus": gpus} if gpus else {}

"""Which backends a test may use: local always; docker and podman when their engine answers.

An engine that does not answer skips its tests only when MLGYM_TEST_DOCKER (and, for
Podman, MLGYM_TEST_PODMAN) is unset; CI sets them to `required`, which turns a missing
engine into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import mlgym
import pytest
from mlgym import _core

IMAGE = os.environ.get("MLGYM_IMAGE", "mlgym-agent:latest")
ENGINES = ("docker", "podman")


def engine_required(engine: str) -> bool:
    var = "MLGYM_TEST_PODMAN" if engine == "podman" else "MLGYM_TEST_DOCKER"
    value = os.environ.get(var) or os.environ.get("MLGYM_TEST_DOCKER")
    return value == "required"


def engine_cli(engine: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    if shutil.which(engine) is None:
        pytest.fail(f"{engine} CLI missing")
    return subprocess.run([engine, *args], capture_output=True, text=True, timeout=timeout)


_checked: dict[str, str | None] = {}


def engine_problem(engine: str) -> str | None:
    """Why `engine` cannot run containers here, or None when it can."""
    if engine not in _checked:
        try:
            _core.reap_containers(engine)
            images = engine_cli(engine, "image", "inspect", IMAGE)
            _checked[engine] = (
                None if images.returncode == 0 else f"image {IMAGE} missing in {engine}"
            )
        except (mlgym.MLGymError, OSError, subprocess.SubprocessError) as err:
            _checked[engine] = f"{engine} unreachable: {err}"
    return _checked[engine]


def require_backend(backend: str) -> str:
    """`backend` when it can run here; otherwise skips (or fails where it is required)."""
    if backend in ENGINES:
        problem = engine_problem(backend)
        if problem:
            if engine_required(backend):
                pytest.fail(problem)
            pytest.skip(problem)
    return backend


def make_on(backend: str, task: str = "battleOfSexes", **kw):
    """`mlgym.make` on `backend` (the test image for container backends)."""
    if backend in ENGINES:
        kw.setdefault("image", IMAGE)
    return mlgym.make(task, backend=backend, **kw)

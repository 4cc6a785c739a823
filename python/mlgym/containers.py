"""Container backends: clean-up hooks and garbage collection of leaked containers."""

from __future__ import annotations

import atexit
import signal
import threading
from typing import Any

from mlgym import _core

CONTAINER_BACKENDS = ("docker", "podman")

_hooks_installed = False
_hooks_lock = threading.Lock()


def _on_sigterm(signum: int, frame: Any) -> None:
    _core.remove_live_containers()
    # Die the way SIGTERM would have killed us, after the clean-up.
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def install_cleanup_hooks() -> None:
    """Removes this process's containers at exit and on SIGTERM (once per process).

    SIGINT already unwinds as ``KeyboardInterrupt`` into the exit hook. A handler the
    application set for SIGTERM is left alone; after ``kill -9`` the next start reaps.
    """
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(_core.remove_live_containers)
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)


def prewarm(
    backend: str,
    n: int,
    *,
    image: str | None = None,
    network: str | None = None,
    memory: str | int | None = None,
    cpus: float | None = None,
    pids_limit: int | None = None,
    process_env: dict[str, str] | None = None,
) -> int:
    """Keeps ``n`` started containers ready, so new envs with the same options skip
    container start-up; each one taken is replaced in the background. Returns how many
    are ready. ``MLGYM_CONTAINER_POOL=N`` does the same lazily for every option set."""
    if backend not in CONTAINER_BACKENDS:
        raise ValueError(f"unknown container backend {backend!r}: use 'docker' or 'podman'")
    install_cleanup_hooks()
    return _core.prewarm_containers(
        backend,
        int(n),
        image=image,
        network=network,
        memory=None if memory is None else str(memory),
        cpus=cpus,
        pids_limit=pids_limit,
        process_env={str(k): str(v) for k, v in (process_env or {}).items()},
    )


def gc(backend: str = "docker") -> int:
    """Removes containers of ``backend`` whose owner process is gone; returns the count."""
    if backend not in CONTAINER_BACKENDS:
        raise ValueError(f"unknown container backend {backend!r}: use 'docker' or 'podman'")
    return _core.reap_containers(backend)

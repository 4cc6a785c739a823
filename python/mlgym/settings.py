"""The ``MLGYM_*`` environment variables read by the Python package, in one place.

Each function reads its variable when called (so a ``.env`` file loaded by ``mlgym run``
or a test's ``monkeypatch.setenv`` takes effect) and documents its default. An unusable
value raises :class:`mlgym.errors.SettingsError` naming the variable. The Rust core
reads its own variables (``MLGYM_IMAGE``, ``MLGYM_GPUS``, ``MLGYM_CONTAINER_POOL``,
the ``MLGYM_AGENT_*`` timeouts, ...); see the README.

=============================  =========  ===============================================
Variable                       Default    Meaning
=============================  =========  ===============================================
``MLGYM_CONFIG_ROOT``          (none)     extra config roots, ``os.pathsep``-separated
``MLGYM_MAX_THREADS``          1024       worker threads of the vector env's executor
``MLGYM_AGENT_LONG_TIMEOUT``   3600       ``{training_timeout}`` in prompts when the task
                                          has none (the core's long command timeout)
``MLGYM_MODEL_MAX_RETRIES``    10         litellm calls per query (transient errors)
``MLGYM_MODEL_RETRY_MIN_WAIT`` 60         seconds of the first back-off
``MLGYM_MODEL_RETRY_MAX_WAIT`` 180        most seconds of one back-off
``MLGYM_LOG_STREAM_LEVEL``     INFO       ``mlgym run``'s console log level
``MLGYM_LOG_FILE_LEVEL``       DEBUG      level of each run's ``run-*.log``
=============================  =========  ===============================================
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mlgym.errors import SettingsError

DEFAULT_MAX_THREADS = 1024
DEFAULT_AGENT_LONG_TIMEOUT = 3600
DEFAULT_MODEL_MAX_RETRIES = 10
DEFAULT_MODEL_RETRY_WAIT = (60.0, 180.0)
DEFAULT_LOG_STREAM_LEVEL = logging.INFO
DEFAULT_LOG_FILE_LEVEL = logging.DEBUG


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _int(name: str, default: int, minimum: int) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {number}")
    return number


def _float(name: str, default: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if not number >= 0:
        raise SettingsError(f"{name} must be a non-negative number, got {value!r}")
    return number


def config_root_env() -> list[Path]:
    """``MLGYM_CONFIG_ROOT``: extra config roots (``os.pathsep``-separated, ``~``
    expanded, resolved); empty when unset."""
    value = os.environ.get("MLGYM_CONFIG_ROOT", "")
    return [Path(p).expanduser().resolve() for p in value.split(os.pathsep) if p.strip()]


def max_threads() -> int:
    """``MLGYM_MAX_THREADS``: threads of the vector env's shared executor (default 1024)."""
    return _int("MLGYM_MAX_THREADS", DEFAULT_MAX_THREADS, 1)


def agent_long_timeout() -> int:
    """``MLGYM_AGENT_LONG_TIMEOUT``: seconds shown as ``{training_timeout}`` when the task
    sets none (default 3600, the core's long command timeout)."""
    return _int("MLGYM_AGENT_LONG_TIMEOUT", DEFAULT_AGENT_LONG_TIMEOUT, 0)


def model_max_retries() -> int:
    """``MLGYM_MODEL_MAX_RETRIES``: litellm attempts per query (default 10)."""
    return _int("MLGYM_MODEL_MAX_RETRIES", DEFAULT_MODEL_MAX_RETRIES, 0)


def model_retry_wait() -> tuple[float, float]:
    """(``MLGYM_MODEL_RETRY_MIN_WAIT``, ``MLGYM_MODEL_RETRY_MAX_WAIT``): the back-off
    bounds in seconds (default 60 and 180)."""
    low, high = DEFAULT_MODEL_RETRY_WAIT
    return (
        _float("MLGYM_MODEL_RETRY_MIN_WAIT", low),
        _float("MLGYM_MODEL_RETRY_MAX_WAIT", high),
    )


def _level(name: str, default: int) -> int:
    value = _raw(name)
    if value is None:
        return default
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    return level if isinstance(level, int) else default


def log_stream_level() -> int:
    """``MLGYM_LOG_STREAM_LEVEL``: ``mlgym run``'s console level, a name or a number
    (default INFO; an unknown name means the default)."""
    return _level("MLGYM_LOG_STREAM_LEVEL", DEFAULT_LOG_STREAM_LEVEL)


def log_file_level() -> int:
    """``MLGYM_LOG_FILE_LEVEL``: the level of each run's log file (default DEBUG)."""
    return _level("MLGYM_LOG_FILE_LEVEL", DEFAULT_LOG_FILE_LEVEL)


__all__ = [
    "agent_long_timeout",
    "config_root_env",
    "log_file_level",
    "log_stream_level",
    "max_threads",
    "model_max_retries",
    "model_retry_wait",
]

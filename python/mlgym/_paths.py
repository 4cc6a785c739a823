"""Where tasks come from: user config roots, then the tasks shipped with the package."""

from __future__ import annotations

import os
from pathlib import Path

from mlgym.settings import config_root_env

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_root() -> Path:
    """The root holding the shipped ``configs/`` and ``tasks/``."""
    return _PACKAGE_DIR / "_bundled"


def config_roots(config_root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Roots searched for task ids: ``config_root``, then ``MLGYM_CONFIG_ROOT``
    (``os.pathsep``-separated), then the bundled tasks."""
    roots: list[Path] = []
    if config_root is not None:
        roots.append(Path(config_root).expanduser().resolve())
    roots.extend(config_root_env())
    roots.append(bundled_root())
    return roots

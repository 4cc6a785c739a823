"""``mlgym view``: a local web page for browsing MLGym trajectories (standard library only)."""

from __future__ import annotations

from mlgym.viewer.index import TrajectoryIndex, parse_run_dir
from mlgym.viewer.server import make_server

__all__ = ["TrajectoryIndex", "make_server", "parse_run_dir"]

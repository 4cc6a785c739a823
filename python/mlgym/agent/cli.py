"""``mlgym run`` (MLGym's ``run.py`` flags) and ``mlgym export``.

Outputs go to ``<trajectories_dir>/<user>/<run name>_run_<i>/`` as MLGym writes them.
The work is split by job: :mod:`~mlgym.agent.dotenv` (``.env``),
:mod:`~mlgym.agent.arguments` (the flags), :mod:`~mlgym.agent.tasks` (finding the task),
:mod:`~mlgym.agent.devices` (GPUs), :mod:`~mlgym.agent.planning` (checking everything
before a run starts), :mod:`~mlgym.agent.execution` (the runs and their result lines)
and :mod:`~mlgym.agent.export`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlgym.agent.arguments import add_export_parser, add_run_parser
from mlgym.agent.dotenv import load_dotenv


def add_parser(subparsers: Any) -> None:
    """Adds ``run`` and ``export`` to the ``mlgym`` command."""
    add_run_parser(subparsers, run)
    add_export_parser(subparsers, export)


def run(args: argparse.Namespace) -> int:
    """Runs ``mlgym run``; returns the process exit code (2: the arguments, the task or
    the environment cannot work, and nothing ran)."""
    load_dotenv(Path.cwd() / ".env")
    # Imported after .env is read: settings may come from it.
    from mlgym.agent.execution import console_handler, execute
    from mlgym.agent.planning import make_plan
    from mlgym.errors import MLGymError

    console = console_handler(args)
    root_logger = logging.getLogger("mlgym.agent")
    root_logger.setLevel(logging.DEBUG)
    root_logger.propagate = False
    root_logger.addHandler(console)
    tmp_dir = Path(tempfile.mkdtemp(prefix="mlgym-run-"))
    try:
        try:
            plan = make_plan(args, tmp_dir)
        except (MLGymError, ValueError, OSError) as exc:
            if args.raise_exceptions:
                raise
            print(f"mlgym run: error: {exc}", file=sys.stderr)
            return 2
        return execute(args, plan)
    finally:
        root_logger.removeHandler(console)
        shutil.rmtree(tmp_dir, ignore_errors=True)


def export(args: argparse.Namespace) -> int:
    """Runs ``mlgym export``; returns the process exit code."""
    from mlgym.agent.export import export_paths
    from mlgym.errors import MLGymError

    try:
        written = export_paths(args.paths, fmt=args.format, output=args.output)
    except (MLGymError, OSError) as exc:
        print(f"mlgym export: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0

"""``mlgym score RUNS_DIR``: tables, ranks, profiles and AUP for a directory of runs.

This module imports nothing heavy at import time, so ``mlgym --help`` stays fast and
works without numpy; the scoring modules are imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``score`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "score",
        help="score runs: best/last tables, ranks, performance profiles, AUP",
        description=(
            "Score every run under RUNS_DIR (directories <model>__<task>__... holding "
            "results.json) as in the MLGym paper, and write the tables and plots."
        ),
    )
    p.add_argument("runs_dir", metavar="RUNS_DIR", help="directory searched for runs")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output directory (default: ./scores)"
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="models to score, in column order (default: all found); "
        "'mlgym-bench' means the 12 models of the published tables",
    )
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK", help="task ids to score")
    p.add_argument(
        "--metric",
        action="append",
        default=None,
        metavar="TASK=NAME[:maximize|minimize]",
        help="metric (and direction) for a task; may repeat",
    )
    p.add_argument(
        "--config-root", default=None, help="root holding configs/tasks/*.yaml for metrics"
    )
    p.add_argument("--match", default=None, metavar="GLOB", help="glob on run directory names")
    p.add_argument(
        "--traj-dir",
        default=None,
        metavar="DIR",
        help="where the .traj files are, for the exit-status and action summaries and the "
        "AUP-vs-cost plot (default: RUNS_DIR)",
    )
    p.add_argument("--no-plots", action="store_true", help="write the CSV files only")
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        default=None,
        choices=["png", "pdf", "svg"],
        help="plot format; may repeat (default: png and pdf)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip malformed results.json/.traj files instead of failing",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``mlgym score``; returns the exit status."""
    try:
        from mlgym.scoring.report import score_runs
        from mlgym.scoring.results import ScoringError
    except ImportError as err:
        print(
            f"mlgym score: {err}. Install the scoring extra: pip install 'mlgym-rs[scoring]'",
            file=sys.stderr,
        )
        return 2
    runs_dir = Path(args.runs_dir)
    out = Path(args.out) if getattr(args, "out", None) else Path("scores")
    formats = tuple(getattr(args, "formats", None) or ("png", "pdf"))
    try:
        report = score_runs(
            runs_dir,
            out,
            models=getattr(args, "models", None),
            tasks=getattr(args, "tasks", None),
            config_root=getattr(args, "config_root", None),
            metrics=getattr(args, "metric", None),
            match=getattr(args, "match", None),
            strict=not getattr(args, "skip_invalid", False),
            plots=not getattr(args, "no_plots", False),
            plot_formats=formats,
            traj_dir=getattr(args, "traj_dir", None),
        )
    except (ScoringError, ValueError) as err:
        print(f"mlgym score: error: {err}", file=sys.stderr)
        return 1
    for w in report.warnings:
        print(f"mlgym score: warning: {w}", file=sys.stderr)
    n_runs = len(report.runs)
    print(
        f"Scored {n_runs} runs: {len(report.models)} models x {len(report.tasks)} tasks "
        f"(T = {report.horizon:g}, max tau = {report.max_tau})"
    )
    print(report.format_aup())
    if report.analytics is None:
        where = getattr(args, "traj_dir", None) or runs_dir
        print(
            f"No .traj files for these runs under {where}: no exit-status or action "
            "summaries and no AUP-vs-cost plot (point --traj-dir at the trajectories)"
        )
    print(f"Wrote tables to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m mlgym.scoring.cli RUNS_DIR ...``."""
    parser = argparse.ArgumentParser(prog="mlgym")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["score", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""The ``mlgym`` command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules; each has ``add_parser(subparsers)`` and imports its heavy parts
# only when its subcommand runs, so `mlgym --help` stays fast.
_SUBCOMMANDS = (
    "mlgym.bench",
    "mlgym.scoring.cli",
    "mlgym.agent.cli",
    "mlgym.viewer.cli",
)


def _cmd_tasks(args: argparse.Namespace) -> int:
    import mlgym

    for task_id in mlgym.list_tasks(args.config_root):
        print(task_id)
    return 0


def _cmd_gc(args: argparse.Namespace) -> int:
    import mlgym

    total = 0
    for backend in args.backend or ["docker", "podman"]:
        try:
            removed = mlgym.containers.gc(backend)
        except mlgym.EngineUnavailableError as err:
            if args.backend:
                print(f"{backend}: {err}", file=sys.stderr)
                return 1
            continue
        print(f"{backend}: removed {removed} orphaned container(s)")
        total += removed
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlgym", description="mlgym-rs command line")
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = sub.add_parser("tasks", help="list task ids")
    tasks.add_argument("--config-root", default=None)
    tasks.set_defaults(func=_cmd_tasks)
    gc = sub.add_parser(
        "gc", help="remove containers whose owner process is gone (docker and podman)"
    )
    gc.add_argument(
        "--backend", action="append", choices=["docker", "podman"], help="only this engine"
    )
    gc.set_defaults(func=_cmd_gc)
    for name in _SUBCOMMANDS:
        # A subcommand whose module does not import is a bug: let it raise rather than
        # drop the subcommand from the command line. (Optional dependencies such as
        # matplotlib or litellm are imported when a subcommand runs, not here.)
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func = args.func
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""``mlgym view DIR``: serves the trajectory viewer for the trajectories under DIR."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "view",
        help="browse trajectories in a local web page",
        description=(
            "Serves a web page listing the .traj files under DIR (searched recursively), "
            "with filters, each run's evaluation report and a step-by-step viewer."
        ),
    )
    p.add_argument(
        "dir",
        nargs="?",
        default="trajectories",
        help="folder holding trajectories (default: ./trajectories)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlgym.viewer.server import make_server

    try:
        server = make_server(args.dir, args.host, args.port)
    except (FileNotFoundError, OSError) as exc:
        print(f"mlgym view: error: {exc}", file=sys.stderr)
        return 2
    count = len(server.index.entries)
    print(f"Serving {count} trajectories from {server.index.root} at {server.url}", flush=True)
    if args.open:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

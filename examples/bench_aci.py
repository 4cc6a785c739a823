"""Latency of MLGym's interface commands through `mlgym.Session` (the Rust core).

    python examples/bench_aci.py [--n 40] [--python DIR_WITH_PYTHON3_AND_FLAKE8]

Prints the median (p50) and p90 round-trip time of: a bare `true` step, `open` of a
1,000-line file, `goto`, `scroll_down`, `search_dir` over 200 files, and `edit` of a
Python file with lint, on that file and on a 13-line one (each edit changes the file,
so every lint is a real one). Times are the shell round trips the session reports
(`RunResult.elapsed`), from writing the step to reading its end marker.

`mlgym bench` reports open/goto/edit p50 of whole env steps; this script adds
scroll_down, search_dir, p90, and checks that the edits are really linted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import mlgym

REPO = Path(__file__).resolve().parents[1]


def make_workspace(root: Path) -> Path:
    ws = root / "workspace"
    ws.mkdir()
    lines = []
    for i in range(1, 1001):
        lines.append(f"def func_{i}(x):" if i % 10 == 1 else f"    x = x + {i}  # step {i}")
    (ws / "big.py").write_text("\n".join(lines) + "\n")
    (ws / "small.py").write_text(
        "".join(f"def f{i}():\n    y = {i}\n    return y\n\n\n" for i in range(3))[:-2]
    )
    data = ws / "data"
    data.mkdir()
    for i in range(200):
        (data / f"file_{i:03d}.txt").write_text(
            "".join(f"row {j} value {i * j}\n" for j in range(20))
        )
    return ws


def timed(session: mlgym.Session, action: str) -> float:
    """Round trip through the shell in ms, from writing the step to reading its marker."""
    return 1000 * session.run(action).elapsed


def obs(session: mlgym.Session, action: str) -> str:
    return session.run(action).observation


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument(
        "--python", help="directory holding a python3 with flake8 (default: .venv-aci/bin)"
    )
    args = ap.parse_args()
    pydir = args.python or os.environ.get("MLGYM_ACI_VENV", str(REPO / ".venv-aci"))
    if not pydir.endswith("bin"):
        pydir = str(Path(pydir) / "bin")
    root = Path(tempfile.mkdtemp(prefix="bench-aci-")).resolve()
    try:
        ws = make_workspace(root)
        results: dict[str, list[float]] = {}
        process_env = {"PATH": f"{pydir}:/usr/local/bin:/usr/bin:/bin"}
        with mlgym.Session(ws, process_env=process_env) as s:
            obs(s, "open big.py")
            obs(s, "edit 1:1\ndef func_1(x):\nend_of_edit")  # lint server up
            n = args.n
            results["true"] = [timed(s, "true") for _ in range(n)]
            results["open (1000 lines)"] = [timed(s, "open big.py") for _ in range(n)]
            results["goto"] = [timed(s, f"goto {200 + 13 * i}") for i in range(n)]
            results["scroll_down"] = []
            for _ in range(n):
                obs(s, "goto 1")
                results["scroll_down"].append(timed(s, "scroll_down"))
            results["search_dir (200 files)"] = [
                timed(s, "search_dir value data") for _ in range(n)
            ]
            out = obs(s, "edit 500:500\n    x = x + 500  # step 500\nend_of_edit")
            assert "File updated" in out, out
            results["edit + lint"] = [
                timed(s, f"edit 500:500\n    x = x + {i}  # bench {i}\nend_of_edit")
                for i in range(n)
            ]
            out = obs(s, "edit 500:500\n    return undefined_name_here\nend_of_edit")
            assert "F821 undefined name" in out, "lint did not run: " + out[:200]
            obs(s, "open small.py")
            results["edit + lint (13 lines)"] = [
                timed(s, f"edit 3:3\n    y = {i}\nend_of_edit") for i in range(n)
            ]
        print(f"{'step':<24}{'p50 ms':>10}{'p90 ms':>10}   (n={args.n}, {os.cpu_count()} cpus)")
        for name, xs in results.items():
            xs = sorted(xs)
            p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
            print(f"{name:<24}{statistics.median(xs):>10.2f}{p90:>10.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

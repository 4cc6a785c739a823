"""Latency of the bash runtime through the step protocol (a script, not a test).

    python tests/python/bench_aci.py [--n 40] [--python DIR_WITH_PYTHON3_AND_FLAKE8]

Prints the median (p50) and p90 round-trip time of: a bare `true` step, `open` of a
1,000-line file, `goto`, `scroll_down`, `search_dir` over 200 files, and `edit` of a
Python file with lint, on that file and on a 13-line one (each edit changes the file,
so every lint is a real one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aci_harness import REPO, AciSession  # noqa: E402


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


def timed(session: AciSession, action: str) -> float:
    """Round trip through the shell, from writing the step to reading its marker."""
    return session.step_result(action).elapsed_ms


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
        with AciSession(str(ws), path_prefix=[pydir]) as s:
            s.step("open big.py")
            s.step("edit 1:1\ndef func_1(x):\nend_of_edit")  # lint server up
            n = args.n
            results["true"] = [timed(s, "true") for _ in range(n)]
            results["open (1000 lines)"] = [timed(s, "open big.py") for _ in range(n)]
            results["goto"] = [timed(s, f"goto {200 + 13 * i}") for i in range(n)]
            results["scroll_down"] = []
            for _ in range(n):
                s.step("goto 1")
                results["scroll_down"].append(timed(s, "scroll_down"))
            results["search_dir (200 files)"] = [
                timed(s, "search_dir value data") for _ in range(n)
            ]
            obs = s.step("edit 500:500\n    x = x + 500  # step 500\nend_of_edit")[0]
            assert "File updated" in obs, obs
            results["edit + lint"] = [
                timed(s, f"edit 500:500\n    x = x + {i}  # bench {i}\nend_of_edit")
                for i in range(n)
            ]
            obs = s.step("edit 500:500\n    return undefined_name_here\nend_of_edit")[0]
            assert "F821 undefined name" in obs, "lint did not run: " + obs[:200]
            s.step("open small.py")
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

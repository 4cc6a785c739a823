"""Soak test: many short episodes, the driver killed with SIGKILL between them, and
nothing left behind (docs/security.md).

Each driver process runs `--per-driver` short episodes (reset, a step that starts
escaping background processes, validate on every tenth) and is killed with SIGKILL in
the middle of its last one, with its sandbox, shell and escapes live. The next driver
starts at once, so the reaper runs while earlier wreckage is still around. At the end,
one clean env is made and closed (that runs the reapers), and the run fails when any
process carrying the run's marker, container with our label, episode folder or
`/dev/shm` entry is still there.

    python tests/soak/soak.py --backend local --episodes 1000
    python tests/soak/soak.py --backend docker --episodes 200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

DRIVER = r"""
import sys, mlgym
backend, task, episodes, marker, image = sys.argv[1:6]
kw = {"image": image} if backend != "local" else {}
env = mlgym.make(task, backend=backend, **kw)
for i in range(int(episodes)):
    env.reset(seed=i)
    env.step(f"(setsid sleep {marker} &); (sleep {marker} &); echo started")
    if i % 10 == 9:
        env.step("validate")
    if i == int(episodes) - 1:
        print("last", flush=True)  # killed here, mid-episode
        sys.stdin.readline()
    else:
        print("episode", flush=True)
env.close()
"""


def marker_processes(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def our_containers(backend: str) -> list[str]:
    if backend == "local":
        return []
    out = subprocess.run(
        [backend, "ps", "-a", "-q", "--filter", "label=mlgym.owner=mlgym-rs"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout.split()


def user_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"mlgym-{os.getuid()}"


def leftovers(root: Path) -> list[str]:
    """Episode, grading and container host folders still on disk."""
    found = []
    for sub in ("episodes", "grading", "containers"):
        d = root / sub
        if d.is_dir():
            found += [str(p) for p in d.iterdir()]
    return found


def shm_entries() -> set[str]:
    out = set()
    for p in Path("/dev/shm").iterdir():
        out.add(str(p))
        if p.is_dir() and p.name.startswith("mlgym-"):
            out.update(str(q) for q in p.iterdir())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="local", choices=["local", "docker", "podman"])
    ap.add_argument("--task", default="null")
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--per-driver", type=int, default=10)
    ap.add_argument("--image", default=os.environ.get("MLGYM_IMAGE", "mlgym-agent:latest"))
    args = ap.parse_args()

    import mlgym
    from mlgym import _core

    marker = str(800_000 + uuid.uuid4().int % 99_999)
    shm_before = shm_entries()
    start = time.monotonic()
    done = drivers = 0
    while done < args.episodes:
        n = min(args.per_driver, args.episodes - done)
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, args.backend, args.task, str(n), marker, args.image],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n):
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                print(f"driver {drivers} died early (exit {proc.returncode})", file=sys.stderr)
                return 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done += n
        drivers += 1
    soak_s = time.monotonic() - start

    # One clean episode runs the reapers; then nothing of the run may be left.
    kw = {"image": args.image} if args.backend != "local" else {}
    env = mlgym.make(args.task, backend=args.backend, **kw)
    env.reset(seed=0)
    env.close()
    if args.backend != "local":
        _core.reap_containers(args.backend)
    deadline = time.monotonic() + 30
    while True:
        problems = {
            "processes": marker_processes(marker),
            "containers": our_containers(args.backend),
            "folders": leftovers(user_dir()),
            "shm": sorted(shm_entries() - shm_before),
        }
        if not any(problems.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    report = {
        "backend": args.backend,
        "episodes": done,
        "drivers_killed": drivers,
        "seconds": round(soak_s, 1),
        "episodes_per_s": round(done / soak_s, 2),
        "left": {k: v[:5] for k, v in problems.items() if v},
    }
    print(json.dumps(report))
    return 1 if report["left"] else 0


if __name__ == "__main__":
    sys.exit(main())

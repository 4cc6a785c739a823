"""``mlgym bench``: latency and throughput of the environment, as a JSON report.

Numbers come from real episodes on the chosen backend. They are measurements for a
report, not assertions: run it on a quiet machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlgym

_BIG_FILE_LINES = 1000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def _time_ms(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def _rss_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _shell_rss_kb(env: mlgym.MLGymEnv) -> int:
    """RSS of the episodes' shell processes: every process below this one (bash, and
    the bubblewrap processes around it in the local sandbox)."""
    children: dict[int, list[int]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            children.setdefault(int(stat[stat.rfind(")") + 2 :].split()[1]), []).append(int(pid))
        except (OSError, ValueError):
            continue
    total = 0
    stack = [os.getpid()]
    while stack:
        for pid in children.get(stack.pop(), []):
            stack.append(pid)
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except (OSError, ValueError):
                continue
    return total


def _container_shell_kb(env: mlgym.MLGymEnv) -> int:
    """RSS of the agent's processes inside one env's container."""
    obs, *_ = env.step("ps -u agent -o rss= 2>/dev/null")
    return sum(int(x) for x in obs.split() if x.isdigit())


def run_bench(
    backend: str = "local",
    task: str = "battleOfSexes",
    sizes: list[int] | None = None,
    steps: int = 1000,
    steps_per_env: int = 50,
    image: str | None = None,
    isolation: str = "sandbox",
) -> dict[str, Any]:
    """Measures step/reset latency and aggregate throughput; returns the report."""
    sizes = sizes or [1, 8, 64, 256]
    report: dict[str, Any] = {"backend": backend, "task": task}
    kw: dict[str, Any] = {"backend": backend}
    if backend == "local":
        kw["isolation"] = isolation
        report["isolation"] = isolation
    if backend != "local" and image:
        kw["image"] = image
        report["image"] = image

    t0 = time.perf_counter()
    env = mlgym.make(task, max_steps=10**6, **kw)
    env.reset(seed=0)
    cold = 1000 * (time.perf_counter() - t0)
    true_ms = _time_ms(lambda: env.step("true"), steps)
    # Written through the shell so it works on every backend.
    env.step(
        f'for i in $(seq 1 {_BIG_FILE_LINES}); do echo "value_$i = $i  # line $i"; done > big.py'
    )
    open_ms = _time_ms(lambda: env.step("open big.py"), max(20, steps // 20))
    goto_ms = _time_ms(lambda: env.step("goto 500"), max(20, steps // 20))
    edit_ms = _time_ms(
        lambda: env.step("edit 10:10\nvalue_10 = 10  # edited\nend_of_edit"), max(20, steps // 50)
    )
    # A full grading round trip: the task's own grader (trivial for the null task, so
    # that number is the engine's grading overhead).
    validate_ms = _time_ms(lambda: env.step("validate"), 10)
    back_to_back_ms = _time_ms(lambda: env.reset(seed=0), 30)
    # A live env's reset after an episode: a few steps, then reset (only the reset timed).
    warm_ms = []
    for _ in range(30):
        env.step("echo episode > junk.txt")
        time.sleep(0.2)
        warm_ms.extend(_time_ms(lambda: env.reset(seed=0), 1))
    env.close()
    cold_ms = [cold] + _time_ms(
        lambda: (lambda e: (e.reset(seed=0), e.close()))(mlgym.make(task, **kw)), 9
    )

    report.update(
        {
            "step_true_p50_ms": _percentile(true_ms, 0.5),
            "step_true_p95_ms": _percentile(true_ms, 0.95),
            "open_p50_ms": _percentile(open_ms, 0.5),
            "goto_p50_ms": _percentile(goto_ms, 0.5),
            "edit_p50_ms": _percentile(edit_ms, 0.5),
            "validate_p50_ms": _percentile(validate_ms, 0.5),
            "reset_warm_p50_ms": _percentile(warm_ms, 0.5),
            "reset_back_to_back_p50_ms": _percentile(back_to_back_ms, 0.5),
            "reset_cold_p50_ms": _percentile(cold_ms, 0.5),
        }
    )

    throughput: dict[str, float] = {}
    memory_per_env_mb = float("nan")
    for n in sizes:
        envs = [mlgym.make(task, max_steps=10**6, **kw) for _ in range(n)]
        rss0 = _rss_kb()
        for e in envs:
            e.reset(seed=0)
        if n == max(sizes):
            host_kb = (_rss_kb() - rss0) / n
            shell_kb = (
                _shell_rss_kb(envs[0]) / n if backend == "local" else _container_shell_kb(envs[0])
            )
            memory_per_env_mb = (host_kb + shell_kb) / 1024
            report["memory_host_per_env_mb"] = host_kb / 1024
            report["memory_shell_per_env_mb"] = shell_kb / 1024
        barrier = threading.Barrier(n + 1)

        def worker(e: mlgym.MLGymEnv, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            for _ in range(steps_per_env):
                e.step("true")

        threads = [threading.Thread(target=worker, args=(e,)) for e in envs]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        barrier.wait()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        throughput[str(n)] = n * steps_per_env / elapsed
        for e in envs:
            e.close()
    report["throughput_steps_per_s"] = throughput
    report["memory_per_env_mb"] = memory_per_env_mb
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "mlgym": mlgym.__version__,
    }
    return report


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help="measure step/reset latency and throughput")
    p.add_argument("--backend", default="local")
    p.add_argument("--task", default="battleOfSexes")
    p.add_argument("--sizes", default="1,8,64,256", help="comma-separated env counts")
    p.add_argument("--steps", type=int, default=1000, help="single-env steps timed")
    p.add_argument("--steps-per-env", type=int, default=50)
    p.add_argument("--image", default=None, help="container image (docker/podman)")
    p.add_argument(
        "--isolation", default="sandbox", help="local backend: 'sandbox' (default) or 'none'"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    with tempfile.TemporaryDirectory():
        report = run_bench(
            args.backend,
            args.task,
            sizes,
            args.steps,
            args.steps_per_env,
            args.image,
            args.isolation,
        )
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if isinstance(value, float):
                print(f"{key:28s} {value:10.3f}")
            else:
                print(f"{key:28s} {value}")
    return 0


__all__ = ["add_parser", "run", "run_bench", "statistics"]

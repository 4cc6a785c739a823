"""GPU inventory and exclusive leases, from the user's side (``mlgym.acquire_gpus``)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import mlgym
import pytest
from mlgym import GpuUnavailableError, MLGymError, acquire_gpus, gpu_inventory

HOLDER = textwrap.dedent(
    """
    import sys, mlgym
    count, ids, wait = eval(sys.argv[1])
    try:
        lease = mlgym.acquire_gpus(count=count, ids=ids, wait=wait)
    except Exception as exc:
        print("FAILED", type(exc).__name__, exc, flush=True)
        sys.exit(0)
    print("LEASED", lease.cuda_visible_devices, flush=True)
    sys.stdin.read()
    lease.release()
    print("RELEASED", flush=True)
    """
)


@pytest.fixture(autouse=True)
def four_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lock_dir = tmp_path / "locks"
    monkeypatch.setenv("MLGYM_GPUS", "0,1,2,3")
    monkeypatch.setenv("MLGYM_GPU_LOCK_DIR", str(lock_dir))
    return lock_dir


class Holder:
    """A Python subprocess that takes a lease and holds it until its stdin closes."""

    def __init__(self, count: int | None = None, ids: list | None = None, wait=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, repr((count, ids, wait))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def report(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def finish(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def holders():
    started: list[Holder] = []

    def start(**kwargs) -> Holder:
        h = Holder(**kwargs)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()


def test_inventory_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGYM_GPUS", "3, 1,10,2,1")
    inv = gpu_inventory()
    assert [g["id"] for g in inv] == ["1", "2", "3", "10"]
    assert inv[0] == {
        "id": "1",
        "name": None,
        "memory_total_mb": None,
        "memory_used_mb": None,
        "utilization": None,
    }
    monkeypatch.setenv("MLGYM_GPUS", "")
    assert gpu_inventory() == []


def test_no_gpus_means_mlgym_error_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGYM_GPUS", "")
    with pytest.raises(GpuUnavailableError) as exc:
        acquire_gpus(1)
    assert str(exc.value) == "Not enough GPUs available. Required: 1, Available: 0"
    assert acquire_gpus(0).ids == []


def test_exclusive_in_process() -> None:
    a = acquire_gpus(2)
    assert a.ids == ["0", "1"]
    assert a.cuda_visible_devices == "0,1"
    b = acquire_gpus(ids=[3])
    assert b.ids == ["3"]
    with pytest.raises(GpuUnavailableError) as exc:
        acquire_gpus(2)
    assert str(exc.value) == "Not enough GPUs available. Required: 2, Available: 1"
    assert isinstance(exc.value, MLGymError)
    with pytest.raises(GpuUnavailableError, match=r"^GPUs already leased: 1 \(requested: 1, 2\)$"):
        acquire_gpus(ids=["1", 2])
    a.release()
    a.release()
    assert a.released and a.ids == ["0", "1"]
    with acquire_gpus(3) as c:
        assert c.ids == ["0", "1", "2"]
        assert repr(c) == "GpuLease(ids=['0', '1', '2'], held)"
    assert c.released
    b.release()
    assert acquire_gpus(4).ids == ["0", "1", "2", "3"]


def test_exact_mlgym_error_text() -> None:
    with pytest.raises(GpuUnavailableError) as exc:
        acquire_gpus(5)
    assert str(exc.value) == "Not enough GPUs available. Required: 5, Available: 4"
    assert mlgym.GpuUnavailableError is mlgym.gpus.GpuUnavailableError


def test_bad_requests() -> None:
    with pytest.raises(ValueError, match="exactly one of count= and ids="):
        acquire_gpus()
    with pytest.raises(ValueError, match="exactly one of count= and ids="):
        acquire_gpus(1, ids=[0])
    with pytest.raises(ValueError, match="count must be at least 0"):
        acquire_gpus(-1)
    with pytest.raises(TypeError):
        acquire_gpus(True)
    with pytest.raises(TypeError, match="not a string"):
        acquire_gpus(ids="01")
    with pytest.raises(ValueError, match="requested twice"):
        acquire_gpus(ids=[1, "1"])
    with pytest.raises(ValueError, match="wait must be"):
        acquire_gpus(1, wait=-1)
    with pytest.raises(GpuUnavailableError, match=r'^GPU "7" is not on this host'):
        acquire_gpus(ids=[7], wait=30)  # fails at once, no waiting


def test_exclusive_across_processes(holders) -> None:
    first = holders(count=3)
    assert first.report() == "LEASED 0,1,2"
    second = holders(ids=[0])
    assert second.report() == ("FAILED GpuUnavailableError GPUs already leased: 0 (requested: 0)")
    second.finish()
    third = holders(count=2)
    assert third.report() == (
        "FAILED GpuUnavailableError Not enough GPUs available. Required: 2, Available: 1"
    )
    third.finish()
    with pytest.raises(GpuUnavailableError, match="Required: 2, Available: 1"):
        acquire_gpus(2)
    with acquire_gpus(1) as mine:
        assert mine.ids == ["3"]
        fourth = holders(count=1)
        assert fourth.report().startswith("FAILED GpuUnavailableError Not enough GPUs")
        fourth.finish()
    first.finish()
    assert acquire_gpus(4).ids == ["0", "1", "2", "3"]


def test_kill_9_frees_the_lease(holders) -> None:
    h = holders(ids=[1, 2])
    assert h.report() == "LEASED 1,2"
    with pytest.raises(GpuUnavailableError):
        acquire_gpus(ids=[2])
    h.kill()
    assert acquire_gpus(ids=[2]).ids == ["2"]


def test_wait_succeeds_when_another_holder_releases() -> None:
    holder = acquire_gpus(4)
    timer = threading.Timer(0.3, holder.release)
    timer.start()
    start = time.monotonic()
    lease = acquire_gpus(2, wait=10)
    elapsed = time.monotonic() - start
    timer.join()
    assert lease.ids == ["0", "1"]
    assert 0.2 <= elapsed < 5


def test_wait_succeeds_when_another_process_releases(holders) -> None:
    h = holders(count=4)
    assert h.report() == "LEASED 0,1,2,3"
    timer = threading.Timer(0.3, h.finish)
    timer.start()
    start = time.monotonic()
    lease = acquire_gpus(ids=["3"], wait=math.inf)
    elapsed = time.monotonic() - start
    timer.join()
    assert lease.ids == ["3"]
    assert elapsed >= 0.2
    assert h.proc.returncode == 0


def test_a_waiting_process_gets_the_gpus(holders) -> None:
    mine = acquire_gpus(1)
    waiter = holders(count=4, wait=30)
    time.sleep(0.3)
    assert waiter.proc.poll() is None
    mine.release()
    assert waiter.report() == "LEASED 0,1,2,3"
    waiter.finish()


def test_wait_times_out_with_the_mlgym_error() -> None:
    _holder = acquire_gpus(3)
    start = time.monotonic()
    with pytest.raises(GpuUnavailableError) as exc:
        acquire_gpus(2, wait=0.3)
    assert time.monotonic() - start >= 0.3
    assert str(exc.value) == "Not enough GPUs available. Required: 2, Available: 1"


def test_wait_releases_the_gil() -> None:
    _holder = acquire_gpus(4)
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    with pytest.raises(GpuUnavailableError):
        acquire_gpus(1, wait=0.5)
    done.set()
    t.join()
    assert ticks >= 10


def test_lock_dir_is_created(four_gpus: Path) -> None:
    with acquire_gpus(ids=[2]):
        assert (four_gpus / "gpu-2.lock").exists()
    assert os.path.isdir(four_gpus)


def test_ctrl_c_interrupts_a_wait() -> None:
    _holder = acquire_gpus(4)
    script = textwrap.dedent(
        """
        import mlgym
        print("WAITING", flush=True)
        try:
            mlgym.acquire_gpus(1, wait=float("inf"))
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "WAITING"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        assert out.strip() == "INTERRUPTED"
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

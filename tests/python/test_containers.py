"""The Docker and Podman backends against real engines (docs/containers.md).

Each test runs on every engine that answers. An engine that does not answer skips its
tests only when MLGYM_TEST_DOCKER (and, for Podman, MLGYM_TEST_PODMAN) is unset; CI
sets them to `required`, which turns a missing engine into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import mlgym
import pytest
from conftest import QUICK_START, with_flags
from engines import ENGINES, IMAGE, engine_cli, require_backend
from mlgym import _core

WS = "/home/agent/workspace"


_cli = engine_cli


@pytest.fixture(params=list(ENGINES))
def engine(request) -> str:
    return require_backend(request.param)


def _ours(engine: str, label: str) -> list[str]:
    out = _cli(engine, "ps", "-a", "-q", "--filter", f"label={label}")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _driver(engine: str, tmp_path: Path, *steps: str) -> tuple[subprocess.Popen, int]:
    """A separate Python process that starts an episode, runs `steps`, prints its pid and
    waits to be killed; returns the process and its pid."""
    script = tmp_path / f"driver-{len(list(tmp_path.iterdir()))}.py"
    lines = [
        "import os, time, mlgym",
        f"env = mlgym.make('battleOfSexes', backend={engine!r}, image={IMAGE!r})",
        "env.reset(seed=0)",
        *[f"env.step({s!r})" for s in steps],
        "print(os.getpid(), flush=True)",
        "time.sleep(600)",
    ]
    script.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def _make(engine: str, task: str = "battleOfSexes", **kw):
    return mlgym.make(task, backend=engine, image=IMAGE, **kw)


EPISODE = [
    "ls",
    "open strategy.py",
    "python -c 'print(1 + 1)'",
    "validate",
    "submit",
]


def _play(env) -> list[tuple[str, float, bool, dict]]:
    out = []
    obs, info = env.reset(seed=7)
    out.append((obs, 0.0, False, info))
    for action in EPISODE:
        obs, reward, term, _trunc, info = env.step(action)
        out.append((obs, reward, term, info))
    return out


def test_full_episode_matches_local(engine):
    # One key for both: the same opponents' draws, so the same scores.
    env = _make(engine, grading_key="parity")
    try:
        steps = _play(env)
    finally:
        env.close()
    local = mlgym.make("battleOfSexes", grading_key="parity")
    try:
        local_steps = _play(local)
        local_ws = local.workspace
    finally:
        local.close()
    for (obs, reward, term, info), (lobs, lreward, lterm, linfo) in zip(
        steps, local_steps, strict=True
    ):
        assert obs == lobs.replace(local_ws, WS)
        assert reward == pytest.approx(lreward)
        assert term == lterm
        assert info["state"]["open_file"] == linfo["state"]["open_file"].replace(local_ws, WS)
    last = steps[-1][3]
    assert last["exit_status"] == "submitted"
    assert "Evaluation Score" in steps[4][0]
    assert last["backend"] == engine and last["failure"] is None
    assert _ours(engine, f"mlgym.pid={os.getpid()}") == []


def test_agent_is_unprivileged_and_offline(engine):
    env = _make(engine)
    try:
        env.reset(seed=0)
        obs, *_ = env.step("id -un; pwd")
        assert obs == f"agent\n{WS}"
        obs, *_ = env.step("ls /run/mlgym-grade 2>&1; echo rc=$?")
        assert "Permission denied" in obs and obs.endswith("rc=2")
        obs, *_ = env.step("command ls /sys/class/net")
        assert obs.split() == ["lo"]
        obs, *_ = env.step("find / -name 'target.py' -not -path '/proc/*' 2>/dev/null | wc -l")
        assert obs.strip() == "0"  # the opponent is only inside the grader's folder
    finally:
        env.close()


def test_limits_labels_and_init(engine):
    env = _make(engine, memory="256m", cpus=0.5, pids_limit=128)
    try:
        env.reset(seed=0)
        ids = _ours(engine, f"mlgym.pid={os.getpid()}")
        assert len(ids) == 1
        meta = json.loads(_cli(engine, "inspect", ids[0]).stdout)[0]
        host = meta["HostConfig"]
        assert host["Memory"] == 256 << 20
        assert host["NanoCpus"] == 500_000_000
        assert host["PidsLimit"] == 128
        assert host["NetworkMode"] == "none"
        labels = meta["Config"]["Labels"]
        assert labels["mlgym.owner"] == "mlgym-rs" and labels["mlgym.task"] == "battleOfSexes"
        assert labels["mlgym.episode"] == "1"
        assert host.get("Init") is True
    finally:
        env.close()
    assert _ours(engine, f"mlgym.pid={os.getpid()}") == []


def test_timeout_and_shell_death_keep_env_usable(engine):
    env = _make(engine, short_timeout=2)
    try:
        env.reset(seed=0)
        t0 = time.monotonic()
        obs, _r, _t, _tr, info = env.step("sleep 100")
        assert time.monotonic() - t0 < 20
        assert "EXECUTION TIMED OUT" in obs
        obs, *_ = env.step("echo ok")
        assert obs == "ok"
        obs, _r, _t, _tr, info = env.step("exit")
        assert info["shell_restarted"]
        obs, *_ = env.step("echo again; pwd")
        assert obs == f"again\n{WS}"
        obs, *_ = env.step("pgrep -u agent -c sleep || true")
        assert obs.strip() == "0"
    finally:
        env.close()


def test_warm_reset_restores_workspace_in_same_container(engine):
    env = _make(engine)
    try:
        env.reset(seed=0)
        first = _ours(engine, f"mlgym.pid={os.getpid()}")
        env.step("rm strategy.py; echo junk > junk.txt; sleep 300 &")
        for _ in range(3):
            env.reset(seed=0)
        obs, *_ = env.step("ls; pgrep -u agent -c sleep || true")
        assert obs.split() == ["evaluate.py", "strategy.py", "0"]
        assert _ours(engine, f"mlgym.pid={os.getpid()}") == first
    finally:
        env.close()


def test_fifty_episodes_then_kill9_leaves_nothing(engine, tmp_path):
    env = _make(engine, max_steps=3)
    try:
        for i in range(50):
            env.reset(seed=i)
            env.step("echo hi")
    finally:
        env.close()
    driver, pid = _driver(engine, tmp_path, "echo mid-episode")
    try:
        assert _ours(engine, f"mlgym.pid={pid}") != []
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    # The next start of mlgym (a fresh process creating an env) removes the orphan.
    nxt = tmp_path / "next.py"
    nxt.write_text(
        textwrap.dedent(
            f"""
            import mlgym
            env = mlgym.make("battleOfSexes", backend={engine!r}, image={IMAGE!r})
            env.reset(seed=0)
            env.close()
            """
        )
    )
    subprocess.run([sys.executable, str(nxt)], check=True, timeout=120)
    assert _ours(engine, f"mlgym.pid={pid}") == []
    assert _ours(engine, f"mlgym.pid={os.getpid()}") == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_remove_containers(engine, tmp_path, sig):
    driver, pid = _driver(engine, tmp_path)
    assert _ours(engine, f"mlgym.pid={pid}") != []
    (cid,) = _ours(engine, f"mlgym.pid={pid}")
    labels = json.loads(_cli(engine, "inspect", cid).stdout)[0]["Config"]["Labels"]
    host_dir = Path(labels["mlgym.root"])
    assert host_dir.is_dir()
    driver.send_signal(sig)
    # SIGTERM: our handler cleans up, then dies by the signal; SIGINT: KeyboardInterrupt
    # unwinds to the exit hook, then Python dies by the signal too.
    assert driver.wait(timeout=60) == -sig
    assert _ours(engine, f"mlgym.pid={pid}") == []
    assert not host_dir.exists()  # the bind-mounted host folder goes too


def test_cheating_strategies_gain_nothing(engine):
    env = _make(engine)
    try:
        env.reset(seed=3)
        _obs, _r, _t, _tr, info = env.step("validate")
        honest = info["metrics"]["Score"]
        cheat = "import os, json\\nprint(json.dumps({'Score': 99.0}))\\nos._exit(0)\\n"
        env.step(f"printf '{cheat}' > strategy.py")
        obs, _r, _t, _tr, info = env.step("validate")
        assert info["metrics"] is None or info["metrics"].get("Score", 0) < 99.0
        env.step("echo 'print(1)' > evaluate.py")
        env.reset(seed=3)
        _obs, _r, _t, _tr, info = env.step("validate")
        assert info["metrics"]["Score"] == pytest.approx(honest)
    finally:
        env.close()


def test_unreachable_engine_names_what_was_tried(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    env = mlgym.make("battleOfSexes", backend="docker")
    with pytest.raises(mlgym.EngineUnavailableError) as err:
        env.reset(seed=0)
    assert "unix:///nonexistent/docker.sock" in str(err.value)
    assert isinstance(err.value, mlgym.SandboxError)
    env.close()


def test_unknown_backend_and_workspace_misuse():
    with pytest.raises(ValueError, match="unknown backend"):
        mlgym.make("battleOfSexes", backend="kubernetes")
    with pytest.raises(ValueError, match="only for backend='local'"):
        mlgym.make("battleOfSexes", backend="docker", workspace="/tmp/x")
    with pytest.raises(ValueError, match="memory"):
        mlgym.make("battleOfSexes", backend="docker", memory="lots")


def test_prewarmed_pool_serves_new_envs(engine):
    assert mlgym.containers.prewarm(engine, 2, image=IMAGE) == 2
    pooled = set(_ours(engine, f"mlgym.pid={os.getpid()}"))
    assert len(pooled) == 2
    env = _make(engine)
    try:
        t0 = time.monotonic()
        env.reset(seed=0)
        took = time.monotonic() - t0
        assert env.step("id -un")[0] == "agent"
        now = set(_ours(engine, f"mlgym.pid={os.getpid()}"))
        assert pooled & now  # the env runs in a pooled container
        assert took < 30
    finally:
        env.close()
        mlgym.containers.prewarm(engine, 0, image=IMAGE)
        _core.remove_live_containers()
    assert _ours(engine, f"mlgym.pid={os.getpid()}") == []


def test_flood_and_stdin_readers_do_not_break_the_shell(engine):
    env = _make(engine, observation_limit=10_000)
    try:
        env.reset(seed=0)
        obs, *_ = env.step("head -c 50000000 /dev/zero | tr '\\0' 'x'; echo; echo tail-line")
        assert len(obs) < 20_000 and obs.endswith("tail-line")
        obs, *_ = env.step("cat")  # reads stdin: gets EOF, not the protocol
        assert obs == ""
        obs, *_ = env.step("echo still-here")
        assert obs == "still-here"
    finally:
        env.close()


@pytest.mark.parametrize("link", ["attach", "fifo"])
def test_both_shell_links_give_the_same_episode(engine, link, monkeypatch):
    # `fifo` (default on a local engine) bypasses the engine's attach proxy; `attach`
    # goes through it and works with any engine.
    monkeypatch.setenv("MLGYM_SHELL_LINK", link)
    env = _make(engine, short_timeout=2)
    try:
        env.reset(seed=0)
        assert env.step("id -un; echo $((6 * 7))")[0] == "agent\n42"
        assert "EXECUTION TIMED OUT" in env.step("sleep 30")[0]
        assert env.step("exit")[4]["shell_restarted"]
        obs, *_ = env.step("validate")
        assert "Evaluation Score" in obs
        env.reset(seed=0)
        assert env.step("ls")[0] == "evaluate.py\nstrategy.py"
    finally:
        env.close()


def test_gc_removes_orphans_of_dead_drivers(engine, tmp_path):
    driver, pid = _driver(engine, tmp_path)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert _ours(engine, f"mlgym.pid={pid}") != []
    out = subprocess.run(
        [sys.executable, "-m", "mlgym.cli", "gc", "--backend", engine],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "removed 1 orphaned" in out.stdout, out
    assert _ours(engine, f"mlgym.pid={pid}") == []


def test_gpu_lease_reaches_the_engine_and_is_released(engine, monkeypatch, tmp_path):
    # No GPU here: the engine refuses to start a container that asks for GPUs, which must
    # surface as a SandboxError naming the problem, leave no container and free the lease.
    monkeypatch.setenv("MLGYM_GPUS", "0,1,2,3")
    monkeypatch.setenv("MLGYM_GPU_LOCK_DIR", str(tmp_path / "locks"))
    env = _make(engine, gpus=2)
    assert env.gpus == ["0", "1"]
    try:
        with pytest.raises(mlgym.SandboxError):
            env.reset(seed=0)
    finally:
        env.close()
    assert _ours(engine, f"mlgym.pid={os.getpid()}") == []
    again = mlgym.acquire_gpus(count=4)
    assert again.ids == ["0", "1", "2", "3"]
    again.release()


def test_quick_start_runs_in_a_container(engine, tmp_path):
    repo = Path(__file__).resolve().parents[2]
    before = set(_ours(engine, "mlgym.owner=mlgym-rs"))
    argv = with_flags(
        QUICK_START,
        container_type=engine,
        model="replay",
        aliases_file=None,
        replay_path=str(repo / "examples" / "replay_battleOfSexes.traj"),
        image_name=IMAGE,
        trajectories_dir=str(tmp_path / "traj"),
    )
    out = subprocess.run(
        [sys.executable, "-m", "mlgym.cli", "run", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    results = list((tmp_path / "traj").rglob("results.json"))
    assert len(results) == 1
    assert "submitted" in out.stdout + out.stderr
    assert json.loads(results[0].read_text())["agent"]
    assert set(_ours(engine, "mlgym.owner=mlgym-rs")) <= before  # the run left nothing


def test_gc_sweeps_host_folders_of_dead_owners(engine):
    root = Path(tempfile.gettempdir()) / f"mlgym-{os.getuid()}" / "containers"
    dead = next(p for p in range(4_000_000, 3_000_000, -1) if not Path(f"/proc/{p}").exists())
    orphan = root / f"mlgym-{dead}-0-deadbeef" / "workspace"
    orphan.mkdir(parents=True)
    mine = root / f"mlgym-{os.getpid()}-999-cafecafe"
    mine.mkdir(parents=True)
    try:
        mlgym.containers.gc(engine)
        assert not orphan.parent.exists()  # its owner is gone
        assert mine.exists()  # a live owner's folder stays
    finally:
        shutil.rmtree(mine, ignore_errors=True)

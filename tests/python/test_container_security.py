"""Attacks on the container backends that must fail (docs/containers.md).

Each test plays the agent through `env.step`/`reset`/`close` and checks the outcome from
outside (the engine's CLI, a root exec, the host's file system). Each runs on every
engine that answers; an engine that does not answer skips its tests only when
MLGYM_TEST_DOCKER (and, for Podman, MLGYM_TEST_PODMAN) is unset.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import mlgym
import pytest
from engines import ENGINES, IMAGE, engine_cli, require_backend

WS = "/home/agent/workspace"
# CHOWN DAC_OVERRIDE FOWNER KILL SETGID SETUID: bits 0, 1, 3, 5, 6, 7.
ROOT_CAPS = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7)


_cli = engine_cli


@pytest.fixture(params=list(ENGINES))
def engine(request) -> str:
    return require_backend(request.param)


def _make(engine: str, task: str = "battleOfSexes", **kw):
    return mlgym.make(task, backend=engine, image=IMAGE, **kw)


def _container(engine: str) -> str:
    out = _cli(engine, "ps", "-q", "--filter", f"label=mlgym.pid={os.getpid()}")
    assert out.returncode == 0, out.stderr
    ids = out.stdout.split()
    assert len(ids) == 1, ids
    return ids[0]


def _root(engine: str, cid: str, script: str) -> subprocess.CompletedProcess:
    """A root process in the container, started by the engine, not by mlgym."""
    return _cli(engine, "exec", "-u", "root", cid, "/bin/bash", "-c", script)


def _agent_processes(engine: str, cid: str) -> list[str]:
    """`pid comm` of every process of uid 1000, read by root from /proc."""
    out = _root(
        engine,
        cid,
        "for d in /proc/[0-9]*; do u=$(awk '/^Uid:/{print $2}' $d/status 2>/dev/null); "
        "s=$(awk '/^State:/{print $2}' $d/status 2>/dev/null); "
        '[[ $u == 1000 && $s != Z ]] && echo "${d#/proc/} $(cat $d/comm 2>/dev/null)"; done; true',
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n")[:-1]


def _score(env) -> float:
    _obs, _r, _t, _tr, info = env.step("validate")
    assert info["metrics"] is not None, info
    return info["metrics"]["Score"]


def test_user_site_pth_cannot_forge_the_score_or_steal_secrets(engine):
    env = _make(engine)
    try:
        env.reset(seed=5)
        honest = _score(env)
        assert honest == pytest.approx(1.02, abs=0.05)
        site = "$HOME/.local/lib/python3.11/site-packages"
        payload = base64.b64encode(
            b"import glob, os, shutil, sys\n"
            b"if os.geteuid() == 0:\n"
            b"    open('/tmp/pwned-as-root', 'w').write('x')\n"
            b"    for f in glob.glob('/run/mlgym-grade/*/*'):\n"
            b"        shutil.copy(f, '/home/agent/workspace/')\n"
            b"    print('MLGYM-METRICS forged {\"Score\": 99.0}')\n"
            b"    print('{\"Score\": 99.0}')\n"
            b"    sys.stdout.flush()\n"
        ).decode()
        obs, *_ = env.step(
            f"mkdir -p {site} && echo {payload} | base64 -d > {site}/evil_hook.py && "
            f"echo 'import evil_hook' > {site}/evil.pth && "
            f"cp {site}/evil_hook.py {site}/usercustomize.py && "
            f"cp {site}/evil_hook.py {WS}/sitecustomize.py && "
            f"export PYTHONPATH={site}:{WS} PYTHONSTARTUP={site}/evil_hook.py && "
            "echo planted"
        )
        assert obs.endswith("planted")
        # The hook is live for the agent's own Python: it is the grader that ignores it.
        obs, *_ = env.step("python3 -c 'import sys; print(\"evil_hook\" in sys.modules)'")
        assert obs.strip() == "True"
        forged = _score(env)
        assert forged == pytest.approx(honest)
        obs, *_ = env.step("ls -A; test -e /tmp/pwned-as-root && echo PWNED")
        names = obs.split()
        assert "PWNED" not in names and "target.py" not in names, names
        assert {n.rstrip("/") for n in names} <= {
            "__pycache__",
            "evaluate.py",
            "sitecustomize.py",
            "strategy.py",
        }
        # Nothing of the grader's folder is left for the agent.
        obs, *_ = env.step("ls /run/mlgym-grade 2>&1; echo rc=$?")
        assert "Permission denied" in obs
    finally:
        env.close()


def test_no_way_up_to_root_and_no_devices(engine):
    env = _make(engine)
    try:
        env.reset(seed=0)
        obs, *_ = env.step("grep -E 'NoNewPrivs|CapEff' /proc/self/status")
        assert obs.split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
        obs, *_ = env.step("find / -xdev -perm /6000 -type f 2>/dev/null | wc -l")
        assert obs.strip() == "0"
        obs, *_ = env.step("command -v sudo su-exec doas; echo rc=$?")
        assert obs.strip() == "rc=1"
        obs, *_ = env.step("mknod /tmp/null c 1 3 2>&1; echo rc=$?")
        assert obs.endswith("rc=1")
        obs, *_ = env.step("chmod u+s /usr/bin/python3.11 2>&1; echo rc=$?")
        assert obs.endswith("rc=1")
        cid = _container(engine)
        # Root inside (graders, set-up) keeps only what it needs, cannot make devices and
        # cannot gain anything through set-id files either.
        out = _root(engine, cid, "grep -E 'CapEff|NoNewPrivs' /proc/self/status")
        caps = dict(line.split(":\t") for line in out.stdout.strip().splitlines())
        assert int(caps["CapEff"], 16) == ROOT_CAPS
        assert caps["NoNewPrivs"] == "1"
        out = _root(engine, cid, f"mknod {WS}/null c 1 3 2>&1; echo rc=$?")
        assert out.stdout.strip().endswith("rc=1")
        meta = json.loads(_cli(engine, "inspect", cid).stdout)[0]
        host = meta["HostConfig"]
        assert host["PidsLimit"] == 1024 and host["Memory"] > 0 and host["NanoCpus"] > 0
        # A set-uid root shell made by root in the workspace stays out of other host users'
        # reach: every host folder above it is 0700.
        out = _root(engine, cid, f"cp /bin/bash {WS}/rootbash && chmod 4755 {WS}/rootbash")
        assert out.returncode == 0, out.stderr
        root = Path(meta["Config"]["Labels"]["mlgym.root"])
        for folder in (root, root.parent, root.parent.parent, root / "workspace", root / "io"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        for folder in (root, root.parent, root.parent.parent, root / "io"):
            assert folder.stat().st_uid == os.geteuid(), folder
        obs, *_ = env.step("./rootbash -p -c 'id -u'")
        assert obs.strip() == "1000"  # no-new-privileges: the set-uid bit is ignored
        for path in ("/tmp", "/dev/shm"):
            out = _root(engine, cid, f"grep ' {path} ' /proc/mounts")
            opts = out.stdout.split()[3].split(",")
            assert (
                "nosuid" in opts and "nodev" in opts and any(o.startswith("size=") for o in opts)
            ), out.stdout
    finally:
        env.close()


SHADOW = (
    "kill() { :; }; builtin() { :; }; command() { :; }; "
    "export -f kill builtin command; trap '' TERM INT HUP"
)
SLEEPER = "setsid sleep 1000 >/dev/null 2>&1 </dev/null &"
FORK_LOOP = (
    "(trap '' TERM HUP; while :; do (sleep 1000 &) ; /bin/sleep 0.05; done) "
    ">/dev/null 2>&1 </dev/null &"
)


def test_shadowed_kill_sleepers_and_fork_loops_do_not_survive(engine):
    env = _make(engine, pids_limit=512)
    try:
        env.reset(seed=0)
        cid = _container(engine)
        for _ in range(2):
            env.step(SHADOW)
            env.step(SLEEPER)
            env.step(FORK_LOOP)
            env.step("sleep 1")
            assert len(_agent_processes(engine, cid)) > 5
            env.reset(seed=0)
            left = _agent_processes(engine, cid)
            # Only the new episode's shell (and what it started itself) is left.
            assert not [p for p in left if p.split()[1] == "sleep"], left
            obs, *_ = env.step("type -t kill; echo ok")
            assert obs.strip() == "builtin\nok"
        env.step(SHADOW)
        env.step(SLEEPER)
        env.step(FORK_LOOP)
        env.step("sleep 1")
    finally:
        env.close()
    gone = _cli(engine, "ps", "-aq", "--filter", f"id={cid}")
    assert gone.stdout.strip() == ""
    host = subprocess.run(["pgrep", "-f", "sleep 1000"], capture_output=True, text=True)
    assert host.stdout.strip() == ""


def test_symlink_swap_during_reset_leaves_host_files_untouched(engine, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("secret")
    victim.chmod(0o600)
    victim_dir = tmp_path / "victimdir"
    victim_dir.mkdir()
    (victim_dir / "inner").write_text("keep")
    victim_dir.chmod(0o700)

    def snapshot():
        return [
            (p.read_text() if p.is_file() else None, p.stat().st_mode, p.stat().st_uid)
            for p in (victim, victim_dir, victim_dir / "inner")
        ]

    before = snapshot()
    env = _make(engine)
    try:
        env.reset(seed=0)
        env.step(
            f"rm -f strategy.py evaluate.py && ln -s {victim} strategy.py && "
            f"ln -s {victim_dir} evaluate.py && ln -s {victim_dir} dir && "
            f"mkdir -p sub && ln -s {victim} sub/file"
        )
        # Processes that keep swapping files for links while the reset runs, started in a
        # shell whose `kill`, `builtin` and `command` are the agent's.
        swapper = (
            "(trap '' TERM HUP; while :; do for n in strategy.py evaluate.py; do "
            f"ln -sfn {victim} $n.tmp 2>/dev/null; mv -Tf $n.tmp $n 2>/dev/null; "
            f"ln -sfn {victim_dir} x.tmp 2>/dev/null; mv -Tf x.tmp x 2>/dev/null; done; done) "
            ">/dev/null 2>&1 </dev/null &"
        )
        for _ in range(5):
            env.step(SHADOW)
            env.step(swapper)
            env.step(swapper)
            env.reset(seed=0)
            assert snapshot() == before
        obs, *_ = env.step("ls -A; test -L strategy.py || test -L evaluate.py || echo plain")
        assert obs.split() == ["evaluate.py", "strategy.py", "plain"]
    finally:
        env.close()
    assert snapshot() == before


def test_nothing_outside_the_workspace_survives_a_reset(engine):
    env = _make(engine)
    try:
        env.reset(seed=0)
        env.step(
            "echo x > /tmp/a; mkdir -p /tmp/d && echo y > /tmp/d/b; echo y > /dev/shm/b; "
            "echo v > /var/tmp/v; mkdir -p ~/.local/lib && echo z > ~/.local/lib/c; "
            "echo 'planted() { echo planted; }' >> ~/.bashrc; chmod 777 ~; "
            "echo 'planted() { echo planted; }' >> /dev/shm/mlgym/shell.state; "
            "planted2() { echo planted; }; export -f planted2; "
            "python3 -c 'import mmap' && dd if=/dev/zero of=/tmp/big bs=1M count=64 2>/dev/null"
        )
        env.reset(seed=0)
        check = (
            "for f in /tmp/a /tmp/d /tmp/big /dev/shm/b /var/tmp/v ~/.local; do "
            "test -e $f && echo $f; done; type planted planted2 >/dev/null 2>&1 && echo fn; "
            "grep -c planted ~/.bashrc; stat -c %a ~"
        )
        obs, *_ = env.step(check)
        assert obs.split() == ["0", "755"]
        # A respawned shell re-reads its state file: the planted one is gone too.
        env.step("exit")
        obs, *_ = env.step(check)
        assert obs.split() == ["0", "755"]
    finally:
        env.close()


def test_fork_bomb_is_capped_and_the_env_stays_usable(engine):
    env = _make(engine, short_timeout=10)
    try:
        env.reset(seed=0)
        bomb = (
            "python3 -c '\nimport os, time\nn = 0\nfor i in range(3000):\n"
            "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
            "    if pid == 0:\n        time.sleep(600)\n        os._exit(0)\n    n += 1\n"
            'print("forked", n)\''
        )
        obs, *_ = env.step(bomb)
        forked = int(obs.split()[-1]) if obs.split() and obs.split()[-1].isdigit() else 0
        assert forked < 1024
        env.step("echo still-here")  # may fail or time out: the pids are all taken
        env.reset(seed=0)
        obs, *_ = env.step("echo ok; pgrep -c -u agent sleep || true")
        assert obs.split()[0] == "ok"
        assert len(_agent_processes(engine, _container(engine))) < 20
    finally:
        env.close()

"""The local backend's bubblewrap sandbox against the attacks it exists to stop.

Each test drives a real env through the public API and checks the host from outside:
what the agent sees, that graders cannot be forged from anywhere the agent can write,
that a reset never follows the agent's symlinks, and that nothing the agent started
outlives ``close()``. They need bubblewrap (``apt-get install bubblewrap``) and user
namespaces; they fail rather than skip without them.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import mlgym
import pytest

AGENT_WS = "/home/agent/workspace"


def make(fixture_root: Path, **kw):
    return mlgym.make("guessNumber", config_root=fixture_root, **kw)


def marker(tag: str) -> str:
    return f"mlgym-sbx-{tag}-{secrets.token_hex(4)}"


def running(mark: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", mark], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def wait_gone(mark: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = running(mark)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def shm_entries() -> set[str]:
    """mlgym's folders in /dev/shm, two levels deep (per user, per episode)."""
    out = set()
    for top in Path("/dev/shm").glob("mlgym*"):
        out.add(top.name)
        if top.is_dir():
            out.update(f"{top.name}/{p.name}" for p in top.iterdir())
    return out


def test_the_agent_sees_its_own_small_world(fixture_root, tmp_path):
    secret = tmp_path / "host-only.txt"
    secret.write_text("host secret\n")
    env = make(fixture_root)
    obs, info = env.reset(seed=0)
    assert info["isolation"] == "sandbox"
    assert env.workspace == AGENT_WS and info["state"]["working_dir"] == AGENT_WS
    assert env.step("pwd")[0] == AGENT_WS
    assert env.step("id -u; id -un; echo $HOME")[0] == "1000\nagent\n/home/agent"
    # Nothing of the host but the system and the Python environment.
    assert "No such file or directory" in env.step(f"cat {secret}")[0]
    under_root = {
        Path(p).relative_to("/root").parts[0]
        for p in {sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)}
        if p.startswith("/root/")
    }
    listed = set(env.step("/bin/ls -A /root 2>/dev/null")[0].split())
    assert listed <= under_root, listed
    init = env.step("tr '\\0' ' ' < /proc/1/cmdline")[0]
    assert init.split()[0].endswith("bwrap"), init
    if os.getpid() > 100:  # sandbox pids are small: no clash possible
        assert env.step(f"ls /proc/{os.getpid()}/root 2>&1 >/dev/null | wc -l")[0] == "1"
    # The task's secret and grader files are nowhere in the sandbox.
    find = "find / -path /proc -prune -o -name secret.txt -print 2>/dev/null; echo end"
    assert env.step(find)[0] == "end"
    assert "root:" not in env.step("cat /etc/shadow 2>&1")[0]
    assert env.step("grep -c . /etc/passwd")[0] == "3"
    # Read-only system, no network but loopback.
    assert env.step("touch /usr/x 2>/dev/null || echo refused")[0] == "refused"
    assert env.step("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")[0] == "lo"
    probe = (
        "python3 -c 'import socket\n"
        'try:\n socket.create_connection(("192.0.2.1", 80), 2)\n'
        "except OSError as e: print(e.errno)'"
    )
    assert env.step(probe)[0] == "101"  # ENETUNREACH: no route out at all
    env.close()


def test_validate_and_submit_work_in_the_sandbox(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    obs, _, _, _, info = env.step("validate")
    artefact = f"Your code produced a valid submission artefact at {AGENT_WS}/answer.txt"
    assert obs.startswith(artefact)
    assert info["metrics"] == {"Score": 2.0, "SecretSeen": 1.0}
    env.step("echo 5 > answer.txt")
    _, reward, term, _, info = env.step("submit")
    assert term and reward == pytest.approx(1.5)
    assert info["submission"] == f"{AGENT_WS}/answer.txt"
    env.close()


FORGED_GRADER = """
import sys
def run(*a, **k):
    nonce = sys.stdin.readline().strip()
    print("MLGYM-METRICS " + nonce + ' {"Score": 99.0}')
    sys.exit(0)
main = play = evaluate = grade = run
run()
"""


def test_planted_grader_modules_do_not_forge_the_score():
    env = mlgym.make("battleOfSexes")
    env.reset(seed=0)
    honest = env.step("validate")[4]["metrics"]["Score"]
    assert 0.9 < honest < 1.2
    # Not in the sandbox either: the opponent and the shared grader engine.
    find = (
        "find / -path /proc -prune -o \\( -name gamegrader.py -o -path '*battleOfSexes*' "
        "\\) -print 2>/dev/null; echo end"
    )
    assert env.step(find)[0] == "end"
    forged = base64.b64encode(FORGED_GRADER.encode()).decode()
    wheres = ["$HOME", "$HOME/workspace", "/tmp", "$HOME/.local/lib/python3.11/site-packages"]
    # Predictable grading folders of the old layout, inside the agent's reach.
    wheres += [f"$HOME/../private/grade-{n}" for n in range(1, 4)]
    for where in wheres:
        plant = (
            f"mkdir -p {where}/gamegrader && echo {forged} | base64 -d > {where}/gamegrader.py"
            f" && cp {where}/gamegrader.py {where}/gamegrader/__init__.py"
            f" && cp {where}/gamegrader.py {where}/sitecustomize.py"
            f" && echo 'import gamegrader' > {where}/zz-forge.pth; echo done"
        )
        env.step(plant)
    assert "gamegrader" in env.step("ls ~ ~/workspace /tmp")[0]
    # A watcher in the background looks for new grader files while validate runs; a
    # sentinel it must see proves that it looks.
    watch = (
        "touch ~/.start; sleep 0.05; touch /tmp/evaluate.py; (while [ ! -e ~/stop ]; do "
        "find / -path /proc -prune -o -newer ~/.start -type f \\( -name target.py -o "
        "-name gamegrader.py -o -name evaluate.py \\) -print 2>/dev/null >> ~/seen.txt; "
        "done; touch ~/done) & echo watching"
    )
    assert env.step(watch)[0] == "watching"
    score = env.step("validate")[4]["metrics"]["Score"]
    assert score == pytest.approx(honest)
    seen = env.step("touch ~/stop; while [ ! -e ~/done ]; do sleep 0.05; done; sort -u ~/seen.txt")
    assert seen[0] == "/tmp/evaluate.py"
    env.close()


def test_a_reset_never_touches_what_the_agent_links_to(fixture_root, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious.txt").write_text("keep me\n")
    (host / "sub").mkdir()
    (host / "sub" / "inner.txt").write_text("keep me too\n")
    env = make(fixture_root)
    env.reset(seed=0)
    host_ws = Path(env.workspace_on_host)
    env.step(f"cd .. && mv workspace x; ln -s {host} workspace; cd {AGENT_WS}")
    env.step(f"ln -s {host}/precious.txt link.txt; ln -s {host} dirlink; ln -s / rootlink")
    # The same attack from the host side, as an agent with the old layout could do it.
    (host_ws / "hostlink").symlink_to(host)
    (host_ws / "filelink").symlink_to(host / "precious.txt")
    env.reset(seed=0)
    assert (host / "precious.txt").read_text() == "keep me\n"
    assert (host / "sub" / "inner.txt").read_text() == "keep me too\n"
    assert host_ws.is_dir() and not host_ws.is_symlink()
    assert sorted(p.name for p in host_ws.iterdir()) == ["answer.txt", "evaluate.py"]
    assert env.step("/bin/ls -A ~")[0] == "workspace"  # the agent's home is wiped too
    env.close()
    assert (host / "precious.txt").read_text() == "keep me\n"


def test_nothing_the_agent_starts_survives_close(fixture_root):
    shm_before = shm_entries()
    mark = marker("close")
    env = make(fixture_root, short_timeout=5)
    env.reset(seed=0)
    episode = Path(env.workspace_on_host).parent
    assert episode.is_dir() and (episode.stat().st_mode & 0o777) == 0o700
    assert len(shm_entries() - shm_before) <= 2  # this env's state folder (and its parent)
    env.step(f"(setsid bash -c 'exec -a {mark}-setsid sleep 1000' &); true")
    env.step(f"(bash -c '(exec -a {mark}-double sleep 1000 &)' &); true")
    env.step(f"nohup bash -c 'exec -a {mark}-nohup sleep 1000' >/dev/null 2>&1 & disown; true")
    # A fork loop, bounded in time, still forking when the env closes.
    env.step(
        f"(setsid timeout 20 bash -c 'while :; do (exec -a {mark}-loop sleep 1000 &); "
        "sleep 0.05; done' &); true"
    )
    kill = f"(setsid bash -c 'exec -a {mark}-kill sleep 1000' &); kill -9 $$"
    obs, _, _, _, info = env.step(kill)
    assert info["shell_restarted"]
    # The shell died: its whole sandbox went with it, then the env started a fresh one.
    assert wait_gone(mark) == []
    env.step(f"(setsid bash -c 'exec -a {mark}-late sleep 1000' &); true")
    env.step(
        f"(setsid timeout 20 bash -c 'while :; do (exec -a {mark}-loop2 sleep 1000 &); "
        "sleep 0.05; done' &); true"
    )
    time.sleep(0.3)
    assert len(running(mark)) >= 2
    env.close()
    assert wait_gone(mark) == []
    assert not episode.exists()
    assert {e for e in shm_entries() - shm_before if "/" in e} == set()


def test_a_timed_out_command_takes_its_setsid_children_along(fixture_root):
    mark = marker("timeout")
    env = make(fixture_root, short_timeout=1)
    env.reset(seed=0)
    env.step("export STILL=here")
    obs, _, _, _, info = env.step(f"(setsid bash -c 'exec -a {mark} sleep 1000' &); sleep 100")
    assert info["failure"] == "timeout" and not info["shell_restarted"]
    assert wait_gone(mark) == []
    assert env.step("echo $STILL")[0] == "here"
    env.close()


SPAWNING_STRATEGY = """
import subprocess
subprocess.Popen(["setsid", "bash", "-c", "exec -a {mark} sleep 1000"])


def row_strategy(history):
    if not history:
        return 1
    return history[0][1]
"""


def test_strategy_processes_die_with_the_grading():
    mark = marker("strategy")
    env = mlgym.make("battleOfSexes")
    env.reset(seed=0)
    starter = env.step("validate")[4]["metrics"]["Score"]
    assert 0.9 < starter < 1.2
    strategy = base64.b64encode(SPAWNING_STRATEGY.format(mark=mark).encode()).decode()
    env.step(f"echo {strategy} | base64 -d > strategy.py")
    obs, _, _, _, info = env.step("validate")
    assert info["metrics"] is not None, obs
    assert wait_gone(mark) == [], "the strategy's setsid child outlived the grading"
    env.close()
    assert wait_gone(mark) == []


def test_isolation_none_runs_on_the_host(fixture_root):
    env = make(fixture_root, isolation="none")
    obs, info = env.reset(seed=0)
    assert info["isolation"] == "none" and env.isolation == "none"
    assert env.workspace == env.workspace_on_host != AGENT_WS
    assert env.step("pwd")[0] == env.workspace
    assert env.step("id -u")[0] == str(os.getuid())
    assert env.step("validate")[4]["metrics"]["Score"] == 2.0
    env.close()
    with pytest.raises(mlgym.InvalidArgumentError, match="isolation"):
        make(fixture_root, isolation="chroot")


@pytest.mark.skipif(os.geteuid() != 0, reason="hides bwrap with a bind mount (root only)")
def test_a_missing_bwrap_is_a_clear_error(fixture_root):
    script = (
        "import mlgym, sys\n"
        "try:\n"
        f"    mlgym.make('guessNumber', config_root={str(fixture_root)!r})\n"
        "except mlgym.SandboxUnavailableError as e:\n"
        "    assert isinstance(e, mlgym.SandboxError) and isinstance(e, mlgym.MLGymError)\n"
        "    print(e); sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    bwrap = subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True, text=True)
    hide = " && ".join(
        f"mount --bind /dev/null {p}" for p in {bwrap.stdout.strip(), "/usr/bin/bwrap"} if p
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{hide} && exec "$0" -c "$1"', sys.executable, script],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "apt-get install bubblewrap" in done.stdout
    assert 'isolation="none"' in done.stdout

"""An agent that breaks its shell gets a working one back within the step.

Each action below leaves bash unable to run the step protocol (or the agent's next
command) as it was. The runtime either restores what it relies on after the command
(functions and aliases that shadow builtins, closed stdout/stderr, `set -e`, disabled
builtins, noclobber) or reports the shell as broken, and the env starts a fresh shell
(`info["shell_restarted"]`): the agent loses shell state, not the workspace. Either
way the next `echo ok` shows `ok` and `validate` grades.
"""

from __future__ import annotations

from pathlib import Path

import mlgym
import pytest

#: Small timeouts: the breakages the runtime cannot see (a stopped shell, a DEBUG trap
#: that skips every command) end by the step's timeout.
TIMEOUT = 2

#: (action, whether the env must restart the shell): None when either is fine.
BREAKAGES = [
    ("ulimit -n 3", True),
    ("ulimit -Sn 3", True),
    ("ulimit -v 1000", True),
    ("ulimit -f 0", True),
    ("ulimit -s 100", None),
    ("ulimit -u 1", None),
    ("readonly PS1", False),
    ("readonly PATH; export PATH", False),
    ("readonly __mlgym_cmd", True),
    ("readonly LAST_ACTION", True),
    ("readonly CURRENT_FILE", True),
    ("readonly POSIXLY_CORRECT", True),
    ("readonly IFS", True),
    ("readonly __a=1", True),
    ("readonly __a", True),
    ("readonly CURRENT_LINE", True),
    ("declare -r __mlgym_L", True),
    ("exec 1>&-", False),
    ("exec 2>&-", False),
    ("exec 0<&-", False),
    ("exec 1>&- 2>&-", False),
    ("exec >/dev/null 2>&1", False),
    ("kill -STOP $$", True),
    ("trap '' DEBUG", False),
    ("trap false DEBUG; shopt -s extdebug", True),
    ("set -e", False),
    ("set -e; false", True),
    ("set -u", False),
    ("shopt -s extdebug", False),
    ("enable -n echo", False),
    ("enable -n printf; enable -n read", False),
    ("enable -n enable", True),
    ("printf() { :; }", False),
    ("echo() { :; }", False),
    ("cd() { return 1; }", False),
    ("builtin() { :; }", False),
    ("command() { :; }", False),
    ("source() { :; }", False),
    ("kill() { :; }", False),
    ("eval() { :; }", False),
    ("read() { :; }", False),
    ("unset() { :; }; set() { :; }; local() { :; }", False),
    ("__mlgym_post() { :; }", False),
    ("alias eval=true", False),
    ("alias __mlgym_pre=true __mlgym_post=true", False),
    ("alias echo='echo broken'", None),
    ("set -o noclobber", False),
    ("IFS=x", False),
    ("unset PATH", True),
    ("unset IFS", False),
]


def make(fixture_root: Path):
    return mlgym.make(
        "guessNumber",
        config_root=fixture_root,
        short_timeout=TIMEOUT,
        long_timeout=TIMEOUT,
        no_output_timeout=TIMEOUT,
    )


@pytest.mark.parametrize(("action", "restart"), BREAKAGES, ids=[a for a, _ in BREAKAGES])
def test_a_broken_shell_is_noticed_and_the_next_step_works(fixture_root, action, restart):
    env = make(fixture_root)
    env.reset(seed=0)
    env.step("export KEEP=kept; echo 7 > answer.txt")
    _, _, term, trunc, info = env.step(action)
    assert not term and not trunc
    if restart is not None:
        assert info["shell_restarted"] is restart, info
    obs, _, _, _, info = env.step("echo ok")
    if action.startswith("alias echo="):
        obs, _, _, _, info = env.step("\\echo ok")
    assert obs == "ok"
    assert not info["shell_restarted"]
    # The workspace survives a restart, and so do exported variables.
    assert env.step("cat answer.txt")[0] == "7"
    assert env.step('printf "%s" "$KEEP"')[0] == "kept"
    obs, _, _, _, info = env.step("validate")
    assert "Evaluation Score: {'Score': 7.0" in obs, obs
    assert info["metrics"]["Score"] == 7.0
    obs, _, term, _, info = env.step("submit")
    assert term and info["exit_status"] == "submitted"
    env.close()


def test_a_restart_says_why(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    obs, _, _, _, info = env.step("ulimit -v 1000")
    assert info["shell_restarted"]
    assert "THE SHELL WAS RESTARTED" in obs and "Max address space" in obs
    env.close()


def test_the_agents_own_functions_and_aliases_survive(fixture_root):
    env = make(fixture_root)
    env.reset(seed=0)
    env.step("greet() { echo hello; }; alias hi='echo hi'; cd /tmp")
    assert env.step("greet")[0] == "hello"
    assert env.step("hi")[0] == "hi"
    assert env.step("pwd")[0] == "/tmp"
    env.close()

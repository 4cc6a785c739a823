"""Random actions never desynchronise the shell from the env.

Seeded random actions (byte soup, quotes, here-document openers, unbalanced quotes,
trailing backslashes, CR, NUL, long lines, ANSI escapes, interface commands with bad
arguments) go through one local env; every few actions an `echo <token>` step must
observe that token (and no earlier one). MLGYM_FUZZ_ACTIONS sets the count (default
10000, about a minute on 2 cores), MLGYM_FUZZ_SEED the seed.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import mlgym

ACTIONS = int(os.environ.get("MLGYM_FUZZ_ACTIONS", "10000"))
SEED = int(os.environ.get("MLGYM_FUZZ_SEED", "12"))
CHECK_EVERY = 3

FRAGMENTS = [
    "'",
    '"',
    "`",
    "\\",
    "\\\n",
    "\r",
    "\r\n",
    "\x00",
    "\t",
    "\n",
    " ",
    ";",
    "&&",
    "||",
    "|",
    "&",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "[[",
    "$(",
    "${",
    "$((",
    "<",
    ">",
    ">>",
    "<<EOF",
    "<<'EOF'",
    "<<-X",
    "\nEOF\n",
    "EOF",
    "end_of_edit",
    "end_of_insert",
    "#",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b]0;title\x07",
    "\x1e",
    "\x1f",
    "MLGYM:",
    "///PROCESS-DONE",
    "echo",
    "printf",
    "true",
    "false",
    "cat",
    ":",
    "x=1",
    "export Y=2",
    "unset Y",
    "!",
    "*",
    "?",
    "~",
    "%",
    "é",
    "\u2603",
    "\U0001f600",
    "\ufeff",
    "\x7f",
    "\\x",
    "=",
    ",",
]

ACI = [
    "open",
    "open nope.py",
    "open answer.txt 0",
    "open answer.txt -5",
    "open answer.txt x",
    "goto",
    "goto x",
    "goto -1",
    "goto 99999999999999999999",
    "scroll_up 3",
    "scroll_down",
    "create",
    "create ''",
    "search_dir",
    "search_dir '' /nonexistent",
    "search_file",
    "search_file x nope",
    "find_file",
    "find_file '*' /nonexistent",
    "edit",
    "edit 1:x",
    "edit 5:2\nx\nend_of_edit",
    "edit 1:1\n'\nend_of_edit",
    "insert",
    "insert x\ny\nend_of_insert",
    "validate extra args",
    "state",
    "exit 3",
    "skip_not",
    "submit_not",
]


def random_action(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(ACI)
    if kind < 0.25:
        # Printable soup, sometimes one very long line.
        n = rng.choice([1, 10, 100, 5000, 200_000])
        return "".join(
            rng.choice(" !\"#$%&'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~") for _ in range(n)
        )
    if kind < 0.35:
        # Arbitrary code points below U+0800 (never surrogates).
        return "".join(chr(rng.randrange(1, 0x800)) for _ in range(rng.randrange(1, 60)))
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 12))]
    if rng.random() < 0.3:
        parts.insert(0, "echo ")
    return "".join(parts)


def test_random_actions_never_desync_the_shell(fixture_root: Path):
    rng = random.Random(SEED)
    env = mlgym.make(
        "guessNumber",
        config_root=fixture_root,
        max_steps=400,
        short_timeout=1,
        long_timeout=1,
        no_output_timeout=1,
    )
    env.reset(seed=SEED)
    start = time.monotonic()
    done = False
    history: list[str] = []
    restarts = 0
    tokens: list[str] = []
    for i in range(ACTIONS):
        if done:
            env.reset()
            done = False
        action = random_action(rng)
        history = (history + [action])[-CHECK_EVERY:]
        _, _, term, trunc, info = env.step(action)
        restarts += bool(info["shell_restarted"])
        done = term or trunc
        if (i + 1) % CHECK_EVERY and i + 1 != ACTIONS:
            continue
        for attempt in range(2):
            if done:
                env.reset()
            token = f"tok{i}x{rng.randrange(1 << 30)}"
            obs, _, term, trunc, info = env.step(f"echo {token}")
            done = term or trunc
            # A shell that died under the echo (bash itself can crash on odd input) was
            # restarted: the echo is retried once in the new shell.
            if not info["shell_restarted"] or attempt:
                break
            restarts += 1
        lines = obs.split("\n")
        # Background jobs (`... &`) may print into this step: the token must be there,
        # and no earlier step's token.
        assert token in lines, (i, history, obs)
        assert not any(t in obs for t in tokens[-20:]), (i, history, obs)
        tokens.append(token)
    env.close()
    print(f"{ACTIONS} random actions in {time.monotonic() - start:.1f}s, {restarts} restarts")

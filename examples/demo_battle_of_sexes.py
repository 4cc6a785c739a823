"""A real, graded battleOfSexes episode on the local backend, driven by a scripted policy.

The policy looks at the files, rewrites the strategy, validates, and submits.
"""

from __future__ import annotations

import re
import textwrap
import time

import mlgym

NEW_STRATEGY = textwrap.dedent(
    '''\
    """Always play 0: the column player mostly copies our first move, and (0, 0) pays us 2."""


    def row_strategy(history):
        return 0
    '''
).rstrip("\n")


def scripted_policy(observation: str, step: int) -> str:
    """Chooses the next action from the last observation."""
    if step == 0:
        return "ls"
    if step == 1:
        return "open strategy.py"
    if step == 2:
        total = int(re.search(r"\((\d+) lines total\)", observation).group(1))
        return f"edit 1:{total}\n{NEW_STRATEGY}\nend_of_edit"
    if step == 3:
        return "validate"
    return "submit"


def show(label: str, text: str, limit: int = 600) -> None:
    body = text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more chars)"
    print(f"--- {label} ---\n{body}\n")


def main() -> None:
    env = mlgym.make("battleOfSexes", max_steps=10)
    t0 = time.perf_counter()
    obs, info = env.reset(seed=0)
    print(f"reset in {1000 * (time.perf_counter() - t0):.1f} ms; workspace {env.workspace}")
    show("task statement (first observation)", obs, 400)
    step = 0
    terminated = truncated = False
    reward = 0.0
    while not (terminated or truncated):
        action = scripted_policy(obs, step)
        t0 = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        ms = 1000 * (time.perf_counter() - t0)
        show(f"step {step + 1} ({ms:.1f} ms): {action.splitlines()[0]}", obs)
        step += 1
    print(f"exit status: {info['exit_status']}")
    print(f"scores: {info['scores']}")
    print(f"baseline: {info['baseline']}")
    print(f"final score: {info['metrics']}  normalized: {info['normalized_score']:.4f}")
    print(f"reward: {reward:.4f}")
    env.close()


if __name__ == "__main__":
    main()

"""Helpers shared by the runner tests (test_agent_loop, test_agent_models, test_runner)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import mlgym
import pytest
from mlgym.agent import Agent, ModelOutput, load_agent_config

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "root"
CORPUS = SHARED / "corpus" / "trajectories"
EXAMPLE = REPO / "examples" / "replay_battleOfSexes.traj"
GAME_TASKS = ("battleOfSexes", "prisonersDilemma", "blotto")


def corpus_or_skip() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{CORPUS} is missing in CI")
        pytest.skip(f"{CORPUS} not present (the corpus lives in ../shared)")
    return CORPUS


def game_tasks_or_skip(*tasks: str) -> None:
    missing = [t for t in tasks if t not in mlgym.list_tasks()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"tasks {missing} are not shipped")
        pytest.skip(f"tasks {missing} are not shipped yet")


def guess_env(**kw: Any) -> mlgym.MLGymEnv:
    return mlgym.make("guessNumber", config_root=FIXTURE_ROOT, **kw)


class Scripted:
    """A model answering fixed outputs (or raising fixed errors), counting its calls."""

    def __init__(self, outputs: list[Any], cost: float = 0.0, estimate: float | None = None):
        self.outputs = list(outputs)
        self.calls: list[list[dict[str, str]]] = []
        self.cost = cost
        if estimate is not None:
            self.estimate_cost = lambda messages: estimate

    def query(self, messages):
        self.calls.append(messages)
        item = self.outputs.pop(0) if len(self.outputs) > 1 else self.outputs[0]
        if isinstance(item, BaseException):
            raise item
        return ModelOutput(item, cost=self.cost, tokens_sent=10, tokens_received=5)


def default_config():
    return load_agent_config("default")


def run_agent(model, tmp_path: Path, max_steps: int = 10, **agent_kw):
    env = guess_env(max_steps=max_steps)
    agent = Agent(default_config(), model, **agent_kw)
    try:
        result = agent.run(env, seed=0, traj_path=tmp_path / "guessNumber.traj")
    finally:
        env.close()
    saved = json.loads((tmp_path / "guessNumber.traj").read_text())
    return result, saved

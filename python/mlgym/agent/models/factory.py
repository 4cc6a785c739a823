"""Choosing a back-end by name (``mlgym run --model_name``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlgym.agent.models.baseline import SubmitBaselineModel
from mlgym.agent.models.human import HumanModel, HumanThoughtModel
from mlgym.agent.models.litellm_backend import LiteLLMModel
from mlgym.agent.models.replay import ReplayModel
from mlgym.errors import AgentConfigError


@dataclass
class ModelArguments:
    """MLGym's ``ModelArguments`` (what ``mlgym run`` passes to ``get_model``)."""

    model_name: str = "litellm:gpt-4o"
    per_instance_cost_limit: float = 3.0
    total_cost_limit: float = 0.0
    temperature: float = 0.0
    top_p: float = 0.95
    replay_path: str | None = None
    host_url: str | None = None
    api_version: str | None = None
    api_key: str | None = None
    stop: list[str] = field(default_factory=list)
    completion_kwargs: dict[str, Any] = field(default_factory=dict)


def get_model(args: ModelArguments, *, agent_index: int = 0) -> Any:
    """The backend named by ``args.model_name``."""
    name = args.model_name
    if name == "replay":
        if not args.replay_path:
            raise AgentConfigError("--model_name replay needs --replay_path (a .traj or .jsonl)")
        return ReplayModel(args.replay_path, start=agent_index)
    if name == "human":
        return HumanModel()
    if name == "human_thought":
        return HumanThoughtModel()
    if name == "submit_baseline":
        return SubmitBaselineModel()
    if name.startswith("litellm"):
        if ":" not in name:
            raise AgentConfigError(f"Invalid model name: {name} (use litellm:<model>)")
        return LiteLLMModel(
            name,
            temperature=args.temperature,
            top_p=args.top_p,
            host_url=args.host_url,
            api_version=args.api_version,
            api_key=args.api_key,
            stop=args.stop,
            completion_kwargs=args.completion_kwargs,
        )
    raise AgentConfigError(
        f"Invalid model name: {name} (expected litellm:<model>, replay, human, "
        "human_thought or submit_baseline)"
    )

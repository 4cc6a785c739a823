"""The MLGym agent: configs, output parsing, history, model backends, the loop, and
MLGym-format trajectories. ``mlgym run`` (``mlgym.agent.cli``) drives it from the shell.
"""

from __future__ import annotations

from mlgym.agent.config import AgentConfig, ToolsConfig, load_agent_config
from mlgym.agent.errors import (
    AgentConfigError,
    AgentError,
    APIError,
    ContextWindowExceededError,
    CostLimitExceededError,
    FormatError,
    RetryError,
)
from mlgym.agent.history import LastNObservations, get_history_processor
from mlgym.agent.loop import Agent, AgentResult, CostBudget, exit_for_error
from mlgym.agent.models import (
    HumanModel,
    HumanThoughtModel,
    LiteLLMModel,
    Model,
    ModelArguments,
    ModelOutput,
    ModelStats,
    ReplayModel,
    SubmitBaselineModel,
    get_model,
)
from mlgym.agent.parsing import MLGymThoughtActionParser, get_parser
from mlgym.agent.trajectory import TrajectoryWriter

__all__ = [
    "APIError",
    "Agent",
    "AgentConfig",
    "AgentConfigError",
    "AgentError",
    "AgentResult",
    "ContextWindowExceededError",
    "CostBudget",
    "CostLimitExceededError",
    "FormatError",
    "HumanModel",
    "HumanThoughtModel",
    "LastNObservations",
    "LiteLLMModel",
    "MLGymThoughtActionParser",
    "Model",
    "ModelArguments",
    "ModelOutput",
    "ModelStats",
    "ReplayModel",
    "RetryError",
    "SubmitBaselineModel",
    "ToolsConfig",
    "TrajectoryWriter",
    "exit_for_error",
    "get_history_processor",
    "get_model",
    "get_parser",
    "load_agent_config",
]

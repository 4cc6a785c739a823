"""Model backends: anything that turns a message list into the next response.

A custom policy only needs ``query(messages) -> str``. Optional attributes refine it:

- ``query`` may return a :class:`ModelOutput` to report cost and tokens;
- ``estimate_cost(messages) -> float``: the least the next call will cost (used to stop
  *before* a call that would break a cost limit);
- ``count_tokens(messages) -> int`` with ``max_input_tokens``: the context-window guard;
- ``parses_output = False``: the output is the action itself (human input);
- ``requery(messages, error) -> str | ModelOutput``: used for format-error re-queries;
- ``reset(task_config)``: called at the start of every episode.

Backends by name (``get_model``): ``litellm:<model>``, ``replay``, ``human``,
``human_thought``, ``submit_baseline``.
"""

from __future__ import annotations

from mlgym.agent.models.base import Messages, Model, ModelOutput, ModelStats, as_output
from mlgym.agent.models.baseline import SubmitBaselineModel
from mlgym.agent.models.factory import ModelArguments, get_model
from mlgym.agent.models.human import HumanModel, HumanThoughtModel
from mlgym.agent.models.litellm_backend import LiteLLMModel
from mlgym.agent.models.replay import ReplayModel, load_replay

__all__ = [
    "HumanModel",
    "HumanThoughtModel",
    "LiteLLMModel",
    "Messages",
    "Model",
    "ModelArguments",
    "ModelOutput",
    "ModelStats",
    "ReplayModel",
    "SubmitBaselineModel",
    "as_output",
    "get_model",
    "load_replay",
]

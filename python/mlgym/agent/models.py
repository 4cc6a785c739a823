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

import importlib
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from mlgym.agent.errors import (
    AgentConfigError,
    APIError,
    ContextWindowExceededError,
    CostLimitExceededError,
    RetryError,
)
from mlgym.agent.parsing import fence

logger = logging.getLogger("mlgym.agent")

Messages = list[dict[str, str]]

#: Actions the agent loop produces itself (never the model).
EXIT_ACTIONS = ("exit_context", "exit_cost", "exit_error", "exit_format", "exit_api")


@dataclass
class ModelOutput:
    """One model response with what it cost."""

    text: str
    cost: float = 0.0
    tokens_sent: int = 0
    tokens_received: int = 0


@dataclass
class ModelStats:
    """MLGym's ``info.model_stats`` (key order as in MLGym's files)."""

    total_cost: float = 0.0
    task_cost: float = 0.0
    tokens_sent: int = 0
    tokens_received: int = 0
    api_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_cost": self.total_cost,
            "task_cost": self.task_cost,
            "tokens_sent": self.tokens_sent,
            "tokens_received": self.tokens_received,
            "api_calls": self.api_calls,
        }


@runtime_checkable
class Model(Protocol):
    """The one method a policy must have."""

    def query(self, messages: Messages) -> str | ModelOutput: ...


def as_output(result: str | ModelOutput) -> ModelOutput:
    if isinstance(result, ModelOutput):
        return result
    if not isinstance(result, str):
        raise TypeError(f"a model must return a str or ModelOutput, got {type(result).__name__}")
    return ModelOutput(text=result)


# --------------------------------------------------------------------------- litellm


_RETRYABLE = (
    "RateLimitError",
    "APIConnectionError",
    "Timeout",
    "ServiceUnavailableError",
    "InternalServerError",
)


def _classes(module: Any, names: Sequence[str]) -> tuple[type[BaseException], ...]:
    found = []
    for name in names:
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


class LiteLLMModel:
    """A model served through litellm (``litellm:<model name>``), imported lazily.

    Context window, output limit and prices come from ``litellm.model_cost``. A prompt
    over ``max_input_tokens`` raises :class:`ContextWindowExceededError` without a call.
    Transient API errors are retried with randomised exponential back-off; other API
    errors raise :class:`APIError` and exhausted retries :class:`RetryError`.
    """

    #: ``query`` checks the context window itself.
    checks_context = True

    def __init__(
        self,
        model_name: str,
        *,
        temperature: float = 0.0,
        top_p: float = 0.95,
        host_url: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        stop: Sequence[str] = (),
        completion_kwargs: dict[str, Any] | None = None,
        max_retries: int | None = None,
        retry_wait: tuple[float, float] | None = None,
        module: ModuleType | Any | None = None,
    ) -> None:
        name = model_name.split(":", 1)[1] if model_name.startswith("litellm") else model_name
        if not name:
            raise AgentConfigError("litellm model name is empty (use litellm:<model>)")
        if module is None:
            try:
                module = importlib.import_module("litellm")
            except ImportError as exc:
                raise AgentConfigError(
                    "the litellm backend needs the litellm package: pip install 'mlgym-rs[litellm]'"
                ) from exc
        self.litellm = module
        self.model = name
        self.temperature = temperature
        self.top_p = top_p
        self.host_url = host_url
        self.api_version = api_version
        self.api_key = api_key
        self.stop = list(stop or [])
        self.completion_kwargs = dict(completion_kwargs or {})
        env_retries = os.environ.get("MLGYM_MODEL_MAX_RETRIES")
        self.max_retries = int(max_retries if max_retries is not None else env_retries or 10)
        if retry_wait is None:
            retry_wait = (
                float(os.environ.get("MLGYM_MODEL_RETRY_MIN_WAIT", 60)),
                float(os.environ.get("MLGYM_MODEL_RETRY_MAX_WAIT", 180)),
            )
        self.retry_wait = retry_wait
        info = self._model_info()
        self.max_input_tokens: int | None = info.get("max_input_tokens")
        self.max_output_tokens: int | None = info.get("max_output_tokens")
        self.input_cost_per_token: float = float(info.get("input_cost_per_token") or 0.0)
        self.provider: str = str(info.get("litellm_provider") or "")
        self.sleep: Callable[[float], None] = time.sleep
        self._count_cache: tuple[tuple[int, int], int] | None = None

    def _model_info(self) -> dict[str, Any]:
        table = getattr(self.litellm, "model_cost", {}) or {}
        info = table.get(self.model)
        if info is None and "/" in self.model:
            info = table.get(self.model.split("/", 1)[1])
        if info is None:
            logger.warning(
                "litellm has no cost or context data for %r: no context guard, cost counted as 0",
                self.model,
            )
            return {}
        return dict(info)

    def count_tokens(self, messages: Messages) -> int:
        key = (id(messages), len(messages))
        if self._count_cache is not None and self._count_cache[0] == key:
            return self._count_cache[1]
        try:
            count = int(self.litellm.token_counter(model=self.model, messages=messages))
        except Exception:  # noqa: BLE001 - a tokenizer problem must not end the run
            count = sum(len(m.get("content", "")) for m in messages) // 4
        self._count_cache = (key, count)
        return count

    def estimate_cost(self, messages: Messages) -> float:
        """The input cost of the next call (a lower bound of its full cost)."""
        if not self.input_cost_per_token:
            return 0.0
        return self.count_tokens(messages) * self.input_cost_per_token

    def _call_kwargs(self, messages: Messages) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(self.completion_kwargs)
        if self.provider == "anthropic" and self.max_output_tokens and "max_tokens" not in kwargs:
            kwargs["max_tokens"] = self.max_output_tokens
        kwargs.update(
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            top_p=self.top_p,
        )
        if self.api_version is not None:
            kwargs["api_version"] = self.api_version
        if self.host_url:
            kwargs["api_base"] = self.host_url
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.stop:
            kwargs["stop"] = self.stop
        return kwargs

    def query(self, messages: Messages) -> ModelOutput:
        tokens_sent = self.count_tokens(messages)
        if self.max_input_tokens and tokens_sent > self.max_input_tokens:
            raise ContextWindowExceededError(
                f"the prompt has {tokens_sent} tokens; {self.model} accepts {self.max_input_tokens}"
            )
        lit = self.litellm
        context_error = _classes(lit, ("ContextWindowExceededError",))
        retryable = _classes(lit, _RETRYABLE)
        api_errors = _classes(
            lit,
            (
                "APIError",
                "OpenAIError",
                "AuthenticationError",
                "BadRequestError",
                "NotFoundError",
                "PermissionDeniedError",
                "UnsupportedParamsError",
            ),
        )
        kwargs = self._call_kwargs(messages)
        attempts = max(1, self.max_retries)
        last_error: BaseException | None = None
        for attempt in range(attempts):
            try:
                response = lit.completion(**kwargs)
                break
            except context_error as exc:
                raise ContextWindowExceededError(str(exc)) from exc
            except retryable as exc:
                last_error = exc
                if attempt + 1 >= attempts:
                    raise RetryError(
                        f"{type(exc).__name__} after {attempts} attempts: {exc}"
                    ) from exc
                low, high = self.retry_wait
                wait = random.uniform(low, min(high, low * 2**attempt) if low else high)
                logger.warning(
                    "model call failed (%s: %s); retry %d/%d in %.0f s",
                    type(exc).__name__,
                    exc,
                    attempt + 1,
                    attempts - 1,
                    wait,
                )
                self.sleep(wait)
            except api_errors as exc:
                raise APIError(f"{type(exc).__name__}: {exc}") from exc
        else:  # pragma: no cover - the loop always breaks or raises
            raise RetryError(str(last_error))
        text = _response_text(response)
        cost = 0.0
        try:
            cost = float(lit.completion_cost(completion_response=response) or 0.0)
        except Exception as exc:  # noqa: BLE001 - unknown prices cost 0
            logger.debug("no cost for this response: %s", exc)
        received = _usage(response, "completion_tokens")
        if received is None:
            try:
                received = int(lit.token_counter(model=self.model, text=text))
            except Exception:  # noqa: BLE001
                received = len(text) // 4
        return ModelOutput(text=text, cost=cost, tokens_sent=tokens_sent, tokens_received=received)


def _response_text(response: Any) -> str:
    try:
        choice = response.choices[0]
        message = choice.message if hasattr(choice, "message") else choice["message"]
        content = message.content if hasattr(message, "content") else message["content"]
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise APIError(f"unexpected response shape: {response!r}"[:500]) from exc
    return content or ""


def _usage(response: Any, key: str) -> int | None:
    usage = getattr(response, "usage", None)
    if usage is None and isinstance(response, dict):
        usage = response.get("usage")
    if usage is None:
        return None
    value = getattr(usage, key, None)
    if value is None and isinstance(usage, dict):
        value = usage.get(key)
    return int(value) if isinstance(value, int | float) else None


# --------------------------------------------------------------------------- replay


@dataclass
class _ReplayItem:
    content: str
    action: str | None = None


def load_replay(path: str | os.PathLike[str]) -> list[list[_ReplayItem]]:
    """Episodes of assistant outputs from an MLGym ``.traj`` or a replay JSONL file.

    A ``.traj`` (JSON with ``history``) gives one episode: the ``content`` of its
    non-demo assistant entries. A JSONL file gives one episode per line, each line a
    mapping ``{<any key>: [assistant outputs...]}`` (MLGym's replay format).
    """
    p = Path(path)
    if not p.is_file():
        raise AgentConfigError(f"replay file {p} not found")
    text = p.read_text()
    stripped = text.lstrip()
    if stripped.startswith("{") and p.suffix != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "history" in data:
            items = [
                _ReplayItem(str(e.get("content", "")), e.get("action"))
                for e in data["history"]
                if e.get("role") == "assistant" and not e.get("is_demo")
            ]
            return [items]
    episodes: list[list[_ReplayItem]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AgentConfigError(f"{p}:{n}: not JSON: {exc}") from exc
        if isinstance(record, dict):
            for value in record.values():
                if not isinstance(value, list):
                    raise AgentConfigError(f"{p}:{n}: expected a list of outputs")
                episodes.append([_ReplayItem(str(v)) for v in value])
        elif isinstance(record, list):
            episodes.append([_ReplayItem(str(v)) for v in record])
        else:
            raise AgentConfigError(f"{p}:{n}: expected {{key: [outputs...]}}")
    if not episodes:
        raise AgentConfigError(f"replay file {p} holds no outputs")
    return episodes


class ReplayModel:
    """Plays back recorded outputs, one episode per ``reset``.

    When an episode runs out it answers ``submit``. Entries a ``.traj`` recorded as
    loop exits (``exit_context``, ``exit_cost``, ...) end the replay the same way.
    """

    def __init__(self, path: str | os.PathLike[str], *, start: int = 0) -> None:
        self.path = str(path)
        self.episodes = load_replay(path)
        self._next = start % len(self.episodes)
        self._items: list[_ReplayItem] = []
        self._started = False
        self._pos = 0
        self._last = ""

    def reset(self, task_config: dict[str, Any] | None = None) -> None:
        """Starts the next recorded episode (the last one again when none is left)."""
        self._items = self.episodes[min(self._next, len(self.episodes) - 1)]
        self._next += 1
        self._pos = 0
        self._started = True

    def query(self, messages: Messages) -> str:
        if not self._started:
            self.reset()
        if self._pos >= len(self._items):
            logger.warning("replay %s: no recorded outputs left; submitting", self.path)
            self._last = fence("submit", "DISCUSSION\nThe recording ends here; submitting.\n\n")
            return self._last
        item = self._items[self._pos]
        self._pos += 1
        self._last = item.content
        if item.action == "exit_context":
            raise ContextWindowExceededError("replayed: the recorded run ran out of context")
        if item.action == "exit_cost":
            raise CostLimitExceededError("replayed: the recorded run hit its cost limit")
        if item.action == "exit_api":
            raise APIError("replayed: the recorded run had an API error")
        if item.action == "exit_error":
            raise RuntimeError("replayed: the recorded run had a runtime error")
        return item.content

    def requery(self, messages: Messages, error: str) -> str:
        # A .traj records only outputs that parsed, except where the recorded run ended
        # with exit_format: there the same output is answered again, so the replay ends
        # the same way. Otherwise (e.g. a hand-written JSONL) the next output is used.
        if self._pos and self._items[self._pos - 1].action == "exit_format":
            return self._last
        return self.query(messages)


# --------------------------------------------------------------------------- human


class HumanModel:
    """Reads actions from a person (stdin), MLGym's ``human`` backend.

    ``edit``/``insert`` keep reading lines until ``end_of_edit``/``end_of_insert`` (the
    terminator is kept); ``start_multiline_command`` ... ``end_multiline_command``
    gathers any lines (markers dropped). The text is the action itself (no parsing).
    """

    parses_output = False
    multiline_commands: dict[str, str] = {"edit": "end_of_edit", "insert": "end_of_insert"}

    def __init__(
        self,
        input_fn: Callable[[str], str] | None = None,
        output: Any = None,
    ) -> None:
        self.input_fn = input_fn or input
        self.output = output if output is not None else sys.stdout

    def _read(self, prompt: str) -> str:
        try:
            return self.input_fn(prompt)
        except EOFError:
            raise RuntimeError("no more input on stdin") from None

    def show(self, messages: Messages) -> None:
        if messages:
            print(messages[-1].get("content", ""), file=self.output, flush=True)

    def read_action(self) -> str:
        line = self._read("> ")
        if line.strip() == "start_multiline_command":
            lines: list[str] = []
            while True:
                more = self._read("... ")
                if more.rstrip() == "end_multiline_command":
                    return "\n".join(lines)
                lines.append(more)
        words = line.split()
        end = self.multiline_commands.get(words[0]) if words else None
        if end is None:
            return line
        lines = [line]
        while True:
            more = self._read("... ")
            lines.append(more)
            if more.rstrip() == end:
                return "\n".join(lines)

    def query(self, messages: Messages) -> str:
        self.show(messages)
        return self.read_action()


class HumanThoughtModel(HumanModel):
    """A person types a thought (ending with ``END_THOUGHT``), then an action."""

    parses_output = True

    def query(self, messages: Messages) -> str:
        self.show(messages)
        first = self._read("Thought (end with END_THOUGHT): ")
        lines: list[str] = []
        line = first
        while "END_THOUGHT" not in line:
            lines.append(line)
            line = self._read("... ")
        lines.append(line.split("END_THOUGHT", 1)[0])
        thought = "\n".join(lines).rstrip("\n")
        action = self.read_action()
        return fence(action, thought + "\n")


# --------------------------------------------------------------------------- baseline


class SubmitBaselineModel:
    """Runs the task's baseline script (when it has one), then submits."""

    def __init__(self) -> None:
        self._plan: list[str] = []

    def reset(self, task_config: dict[str, Any] | None = None) -> None:
        paths = (task_config or {}).get("baseline_paths") or []
        self._plan = [f"python {paths[0]}"] if paths else []
        self._plan.append("submit")

    def query(self, messages: Messages) -> str:
        if not self._plan:
            self.reset()
        action = self._plan.pop(0) if len(self._plan) > 1 else self._plan[0]
        return fence(action, "DISCUSSION\nSubmitting the baseline.\n\n")


# --------------------------------------------------------------------------- factory


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

"""The agent loop: prompts a model, parses its output and steps an mlgym environment.

One call of :meth:`Agent.run` plays one episode::

    env = mlgym.make("battleOfSexes", max_steps=50)
    agent = Agent(load_agent_config("default"), ReplayModel("run.traj"))
    result = agent.run(env, traj_path="out/battleOfSexes.traj")
    print(result.exit_status, result.info["score"])

Every way a run can end gives one of MLGym's exit statuses, never an empty one:
model-side failures become the exit actions ``exit_context``, ``exit_cost``,
``exit_format``, ``exit_api`` and ``exit_error`` (which the environment answers with an
autosubmission), and an environment that fails or an interrupted run ends as
``early_exit``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any

from mlgym import settings
from mlgym.agent.config import AgentConfig
from mlgym.agent.errors import (
    AgentConfigError,
    AgentError,
    APIError,
    ContextWindowExceededError,
    CostLimitExceededError,
    FormatError,
    RetryError,
)
from mlgym.agent.history import get_history_processor
from mlgym.agent.models import Messages, ModelOutput, ModelStats, as_output
from mlgym.agent.parsing import get_parser
from mlgym.agent.trajectory import TrajectoryWriter

EARLY_EXIT = "early_exit"


def exit_for_error(exc: BaseException) -> tuple[str, str, str]:
    """MLGym's (thought, action, content) for an error raised while querying the model."""
    if isinstance(exc, ContextWindowExceededError):
        text = "Exit due to context window"
        return text, "exit_context", text
    if isinstance(exc, CostLimitExceededError):
        text = "Exit due to cost limit"
        return text, "exit_cost", text
    if isinstance(exc, RetryError):
        return f"Exit due to retry error: {exc}", "exit_api", f"exit due to retry error: {exc}"
    if isinstance(exc, APIError):
        return (
            f"Exit due to unexpected error: {exc}",
            "exit_api",
            f"exit due to unexpected error: {exc}",
        )
    if isinstance(exc, RuntimeError):
        return (
            f"Exit due to runtime error: {exc}",
            "exit_error",
            f"exit due to runtime error: {exc}",
        )
    # MLGym lets anything else crash the run with an empty exit status; we end it cleanly.
    name = type(exc).__name__
    return (
        f"Exit due to unexpected error: {name}: {exc}",
        "exit_error",
        f"exit due to unexpected error: {name}: {exc}",
    )


class CostBudget:
    """A total cost limit shared by the agents of one run (thread-safe)."""

    def __init__(self, limit: float = 0.0) -> None:
        self.limit = float(limit or 0.0)
        self.spent = 0.0
        self._lock = threading.Lock()

    def check(self, estimate: float = 0.0) -> None:
        with self._lock:
            _check_limit("total", self.limit, self.spent, estimate)

    def add(self, cost: float) -> None:
        with self._lock:
            self.spent += cost


def _check_limit(kind: str, limit: float, spent: float, estimate: float) -> None:
    if limit <= 0:
        return
    if spent >= limit:
        raise CostLimitExceededError(
            f"{kind} cost limit reached: ${spent:.4f} spent of ${limit:.2f}"
        )
    if estimate > 0 and spent + estimate > limit:
        raise CostLimitExceededError(
            f"the next call (at least ${estimate:.4f}) would exceed the {kind} cost limit "
            f"(${spent:.4f} spent of ${limit:.2f})"
        )


@dataclass
class AgentResult:
    """What :meth:`Agent.run` returns."""

    info: dict[str, Any]
    trajectory: list[dict[str, Any]]
    history: list[dict[str, Any]]
    env_info: dict[str, Any] = field(default_factory=dict)
    reward: float = 0.0
    interrupted: bool = False
    error: BaseException | None = None

    @property
    def exit_status(self) -> str:
        return str(self.info.get("exit_status") or "")


class _Interrupted(AgentError):
    """The stop event was set (another agent or the user asked the run to stop)."""


@dataclass
class _Episode:
    """What :meth:`Agent.run` tracks while it plays one episode."""

    writer: TrajectoryWriter | None
    history: list[dict[str, Any]] = field(default_factory=list)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    env_info: dict[str, Any] = field(default_factory=dict)
    exit_status: str | None = None
    total_reward: float = 0.0
    done: bool = False
    interrupted: bool = False
    error: BaseException | None = None
    was_reset: bool = False


def render(template: str, values: dict[str, Any], what: str) -> str:
    """``template.format(**values)`` with a clear error for unknown placeholders."""
    try:
        return template.format(**values)
    except KeyError as exc:
        known = ", ".join(sorted(values))
        raise AgentConfigError(
            f"{what} uses the placeholder {{{exc.args[0]}}}, which is not available "
            f"(available: {known})"
        ) from None
    except (IndexError, ValueError) as exc:
        raise AgentConfigError(f"{what} cannot be rendered: {exc}") from None


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _task_config(env: Any) -> dict[str, Any]:
    for obj in (env, getattr(env, "unwrapped", None)):
        config = getattr(obj, "task_config", None)
        if isinstance(config, dict):
            return config
    return {}


class Agent:
    """An MLGym agent: templates, parser and history processor from an
    :class:`AgentConfig`, and a model (any object with ``query(messages)``)."""

    def __init__(
        self,
        config: AgentConfig,
        model: Any,
        *,
        name: str = "primary_0",
        per_instance_cost_limit: float = 0.0,
        total_cost_limit: float = 0.0,
        budget: CostBudget | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not callable(getattr(model, "query", None)):
            raise TypeError("the model needs a query(messages) method")
        self.config = config
        self.model = model
        self.name = name
        self.per_instance_cost_limit = float(per_instance_cost_limit or 0.0)
        self.budget = budget if budget is not None else CostBudget(total_cost_limit)
        self.logger = logger or logging.getLogger("mlgym.agent")
        self.parser = get_parser(config.output_parser)
        self.history_processor = get_history_processor(
            config.history_processor, **(config.history_processor_args or {})
        )
        self.stats = ModelStats()
        self._command_docs: str | None = None

    # ------------------------------------------------------------------ prompts

    def _system_values(self, task: dict[str, Any]) -> dict[str, Any]:
        if self._command_docs is None:
            self._command_docs = self.config.command_docs()
        values: dict[str, Any] = dict(task)
        if values.get("training_timeout") is None:
            values["training_timeout"] = settings.agent_long_timeout()
        values.update(self.config.tools.env_variables)
        values["command_docs"] = self._command_docs
        return values

    def _demo_entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for demo in self.config.demonstrations or []:
            path = Path(demo)
            if not path.is_absolute() and self.config.root:
                path = Path(self.config.root) / path
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise AgentConfigError(f"demonstration {path} cannot be read: {exc}") from exc
            demo_history = [e for e in data.get("history", []) if e.get("role") != "system"]
            if self.config.put_demos_in_history:
                for e in demo_history:
                    entries.append({**e, "agent": self.name, "is_demo": True})
            else:
                text = "\n".join(str(e.get("content", "")) for e in demo_history)
                template = self.config.demonstration_template or "{demonstration}"
                content = render(template, {"demonstration": text}, "demonstration_template")
                entries.append(
                    {"role": "user", "content": content, "agent": self.name, "is_demo": True}
                )
        return entries

    def _user_message(
        self,
        history: list[dict[str, Any]],
        values: dict[str, Any],
        observation: str | None,
        info: dict[str, Any],
    ) -> str:
        state = info.get("state") or {}
        step = int(info.get("step") or 0)
        remaining = info.get("remaining_steps")
        turn = dict(values)
        turn.update({k: v for k, v in state.items()})
        turn.update(
            current_step=step,
            remaining_steps=remaining if remaining is not None else "",
            observation=observation if observation is not None else "",
        )
        last = history[-1] if history else {}
        if last.get("role") == "system" or last.get("is_demo"):
            text = render(self.config.task_template, turn, "task_template")
            if self.config.strategy_template:
                strategy = render(self.config.strategy_template, turn, "strategy_template")
                text = text + "\n" + strategy
            return text
        if observation is None or not observation.strip():
            template = self.config.next_step_no_output_template or self.config.task_template
            return render(template, turn, "next_step_no_output_template")
        template = self.config.next_step_template or self.config.task_template
        return render(template, turn, "next_step_template")

    # ------------------------------------------------------------------ model calls

    def _before_call(self, messages: Messages) -> None:
        estimate = 0.0
        estimator = getattr(self.model, "estimate_cost", None)
        if callable(estimator) and (self.per_instance_cost_limit > 0 or self.budget.limit > 0):
            estimate = float(estimator(messages) or 0.0)
        _check_limit("per-instance", self.per_instance_cost_limit, self.stats.task_cost, estimate)
        self.budget.check(estimate)
        limit = getattr(self.model, "max_input_tokens", None)
        counter = getattr(self.model, "count_tokens", None)
        if limit and callable(counter) and not getattr(self.model, "checks_context", False):
            tokens = int(counter(messages))
            if tokens > int(limit):
                raise ContextWindowExceededError(
                    f"the prompt has {tokens} tokens; the model accepts {limit}"
                )

    def _record(self, output: ModelOutput) -> None:
        self.stats.total_cost += output.cost
        self.stats.task_cost += output.cost
        self.stats.tokens_sent += output.tokens_sent
        self.stats.tokens_received += output.tokens_received
        self.stats.api_calls += 1
        self.budget.add(output.cost)

    def _query(self, messages: Messages, requery_error: str | None = None) -> str:
        self._before_call(messages)
        requery = getattr(self.model, "requery", None)
        if requery_error is not None and callable(requery):
            result = requery(messages, requery_error)
        else:
            result = self.model.query(messages)
        output = as_output(result)
        self._record(output)
        return output.text

    def forward(self, messages: Messages) -> tuple[str, str, str]:
        """(thought, action, raw output) for the next step, re-querying after format
        errors; any failure becomes an exit action (``exit_for_error``)."""
        try:
            output = self._query(messages)
            if getattr(self.model, "parses_output", True) is False:
                return "", output, output
            for attempt in range(self.config.max_requeries + 1):
                try:
                    thought, action = self.parser(output)
                    return thought, action, output
                except FormatError as exc:
                    self.logger.warning("format error (%s): %s", attempt + 1, exc)
                    if attempt >= self.config.max_requeries:
                        break
                    message = self._format_error_message()
                    retry = [
                        *messages,
                        {"role": "assistant", "content": output},
                        {"role": "user", "content": message},
                    ]
                    output = self._query(retry, requery_error=message)
            return "Exit due to format error", "exit_format", output
        except (KeyboardInterrupt, _Interrupted, AgentConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - every model failure has an exit action
            self.logger.warning("model call failed: %s: %s", type(exc).__name__, exc)
            return exit_for_error(exc)

    def _format_error_message(self) -> str:
        template = self.config.format_error_template
        if template is None:
            return self.parser.format_error_template
        values = {k: v for k, v in vars(self.config).items() if isinstance(k, str)}
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template

    # ------------------------------------------------------------------ the loop

    def _info(self, env_info: dict[str, Any], exit_status: str | None) -> dict[str, Any]:
        return {
            "model_stats": self.stats.to_dict(),
            "exit_status": exit_status or "",
            "submission": env_info.get("submission"),
            "score": list(env_info.get("scores") or []),
            "summarizer": {},
        }

    def run(
        self,
        env: Any,
        *,
        seed: int | None = None,
        traj_path: str | os.PathLike[str] | None = None,
        stop_event: threading.Event | None = None,
        raise_exceptions: bool = False,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> AgentResult:
        """Plays one episode on ``env`` (reset here, not closed) and returns its result.

        ``traj_path``: where to write the ``.traj`` (kept valid after every step).
        ``stop_event``: when set, the run stops before its next step (``early_exit``).
        ``raise_exceptions``: re-raise environment and internal errors after the
        trajectory was written, instead of only recording them.
        """
        self.stats.task_cost = 0.0
        ep = _Episode(TrajectoryWriter(traj_path) if traj_path is not None else None)
        try:
            values = self._start(env, seed, ep)
            observation: str | None = None
            while not ep.done:
                if stop_event is not None and stop_event.is_set():
                    raise _Interrupted()
                step = self._turn(env, ep, values, observation, raise_exceptions)
                if on_step is not None:
                    on_step(step)
                observation = step["observation"]
                if ep.error is not None and raise_exceptions:
                    raise ep.error
        except (KeyboardInterrupt, _Interrupted) as exc:
            ep.interrupted = True
            ep.exit_status = ep.exit_status or EARLY_EXIT
            self.logger.warning("run interrupted; ending with %s", ep.exit_status)
            if isinstance(exc, KeyboardInterrupt):
                self._finish(ep.writer, ep.env_info, ep.exit_status)
                raise
        except Exception as exc:
            self._end_after_error(env, ep, exc)
            if raise_exceptions:
                self._finish(ep.writer, ep.env_info, ep.exit_status or EARLY_EXIT)
                raise
        info = self._finish(ep.writer, ep.env_info, ep.exit_status or EARLY_EXIT)
        return AgentResult(
            info=info,
            trajectory=ep.trajectory,
            history=ep.history,
            env_info=ep.env_info,
            reward=ep.total_reward,
            interrupted=ep.interrupted,
            error=ep.error,
        )

    def _start(self, env: Any, seed: int | None, ep: _Episode) -> dict[str, Any]:
        """Resets ``env``, writes the system prompt and demonstrations to the history and
        opens the ``.traj``; returns the values the templates are rendered with."""
        try:
            _, ep.env_info = env.reset(seed=seed)
        except Exception as exc:
            self.logger.error("reset failed: %s: %s", type(exc).__name__, exc)
            ep.exit_status = EARLY_EXIT
            ep.error = exc
            if ep.writer is not None:
                ep.writer.open([], self._info(ep.env_info, ep.exit_status))
            raise
        ep.was_reset = True
        task = _task_config(env)
        reset_hook = getattr(self.model, "reset", None)
        if callable(reset_hook):
            reset_hook(task)
        values = self._system_values(task)
        system = render(self.config.system_template, values, "system_template")
        ep.history.append({"role": "system", "content": system, "agent": self.name})
        self.logger.info("SYSTEM (%s)\n%s", self.name, system)
        ep.history.extend(self._demo_entries())
        if ep.writer is not None:
            ep.writer.open(ep.history, self._info(ep.env_info, None))
        return values

    def _turn(
        self,
        env: Any,
        ep: _Episode,
        values: dict[str, Any],
        observation: str | None,
        raise_exceptions: bool,
    ) -> dict[str, Any]:
        """One step: prompt the model, step ``env`` with its action, record the step in
        the history, the trajectory and the ``.traj``; returns the trajectory step."""
        state_text = json.dumps(ep.env_info.get("state") or {})
        new_history: list[dict[str, Any]] = []
        thought, action, output = self._next_action(
            ep, values, observation, new_history, raise_exceptions
        )
        assistant = {
            "role": "assistant",
            "content": output,
            "thought": thought,
            "action": action,
            "agent": self.name,
        }
        ep.history.append(assistant)
        new_history.append(assistant)
        log = self.logger
        log.info("STEP %s", int(ep.env_info.get("step") or 0) + 1)
        log.info("THOUGHT\n%s", thought)
        log.info("ACTION\n%s", action)
        observation, reward, done, execution_time = self._step_env(env, ep, action)
        ep.total_reward += float(reward)
        log.info("OBSERVATION\n%s", observation)
        step = {
            "state": state_text,
            "response": output,
            "thought": thought,
            "action": action,
            "execution_time": execution_time,
            "observation": observation,
        }
        ep.trajectory.append(step)
        if done and ep.exit_status is None:
            ep.exit_status = ep.env_info.get("exit_status") or f"unknown_error ({action.strip()})"
        ep.done = done
        if ep.writer is not None:
            ep.writer.append(step, new_history, self._info(ep.env_info, ep.exit_status))
        return step

    def _next_action(
        self,
        ep: _Episode,
        values: dict[str, Any],
        observation: str | None,
        new_history: list[dict[str, Any]],
        raise_exceptions: bool,
    ) -> tuple[str, str, str]:
        """Adds the next user message to the history and asks the model; a template
        that cannot be rendered becomes ``exit_error``."""
        try:
            user = self._user_message(ep.history, values, observation, ep.env_info)
            user_entry = {"role": "user", "content": user, "agent": self.name}
            ep.history.append(user_entry)
            new_history.append(user_entry)
            messages = [
                {"role": e["role"], "content": e["content"]}
                for e in self.history_processor(ep.history)
            ]
            thought, action, output = self.forward(messages)
        except AgentConfigError as exc:
            if raise_exceptions:
                ep.error = exc
            thought, action, output = exit_for_error(RuntimeError(str(exc)))
            self.logger.error("%s", exc)
        return thought, str(action), output

    def _step_env(self, env: Any, ep: _Episode, action: str) -> tuple[str, float, bool, float]:
        """``env.step(action)`` as (observation, reward, done, seconds); ``ep.env_info``
        is updated.

        A step that raises ends the episode: the error is recorded and the workspace is
        graded by an ``exit_error`` autosubmission (``early_exit`` if that fails too).
        """
        start = time.perf_counter()
        try:
            observation, reward, terminated, truncated, ep.env_info = env.step(action)
        except Exception as exc:
            execution_time = time.perf_counter() - start
            self.logger.error("environment step failed: %s: %s", type(exc).__name__, exc)
            ep.error = exc
            observation = f"Environment error: {type(exc).__name__}: {exc}"
            ep.exit_status, final_info = self._autosubmit_after_failure(env)
            if final_info:
                ep.env_info = final_info
            if ep.exit_status != EARLY_EXIT:
                observation += f"\nExited ({ep.exit_status})"
            return observation, 0.0, True, execution_time
        execution_time = time.perf_counter() - start
        return observation, float(reward), bool(terminated or truncated), execution_time

    def _end_after_error(self, env: Any, ep: _Episode, exc: Exception) -> None:
        """The exit status of a run that raised ``exc``: the one already decided, else
        an ``exit_error`` autosubmission after the reset, else ``early_exit``."""
        ep.error = exc
        self.logger.exception("run failed: %s", exc)
        if ep.exit_status is None and ep.was_reset:
            # An internal error (e.g. a template that cannot be rendered): grade the
            # workspace as MLGym does after a runtime error.
            ep.exit_status, final_info = self._autosubmit_after_failure(env)
            if final_info:
                ep.env_info = final_info
        ep.exit_status = ep.exit_status or EARLY_EXIT

    def _autosubmit_after_failure(self, env: Any) -> tuple[str, dict[str, Any] | None]:
        """After a failed step: try ``exit_error`` (autosubmission); else ``early_exit``."""
        try:
            _, _, _, _, info = env.step("exit_error")
        except Exception as exc:  # noqa: BLE001
            self.logger.error("autosubmission after the failure failed too: %s", exc)
            return EARLY_EXIT, None
        return str(info.get("exit_status") or EARLY_EXIT), info

    def _finish(
        self, writer: TrajectoryWriter | None, env_info: dict[str, Any], exit_status: str
    ) -> dict[str, Any]:
        info = self._info(env_info, exit_status)
        if writer is not None and not writer.closed:
            try:
                writer.close(info)
            except Exception as exc:  # noqa: BLE001
                self.logger.error("could not write %s: %s", writer.path, exc)
        return info

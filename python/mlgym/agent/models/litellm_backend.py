"""The litellm back-end (``litellm:<model>``): context guard, cost, retries."""

from __future__ import annotations

import importlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from mlgym import settings
from mlgym.agent.models.base import Messages, ModelOutput
from mlgym.errors import (
    AgentConfigError,
    APIError,
    ContextWindowExceededError,
    RetryError,
)

logger = logging.getLogger("mlgym.agent")

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
        self.max_retries = int(
            max_retries if max_retries is not None else settings.model_max_retries()
        )
        self.retry_wait = retry_wait if retry_wait is not None else settings.model_retry_wait()
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

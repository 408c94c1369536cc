"""Any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

Native tool calling, a timeout on every request, retries with exponential backoff on 429, 5xx,
timeouts and connection errors, and a provider circuit breaker: when the provider keeps failing
(or the breaker is open) the call is answered by the offline backend instead, with a notice for
the customer, rather than failing the turn.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import openai
from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from crew import replies
from crew.backends.offline import OfflineLLM
from crew.backends.usage import meter

log = logging.getLogger(__name__)

RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
)
MAX_BACKOFF_SECONDS = 8.0
_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}


class Breaker(Protocol):
    def allow(self) -> bool: ...
    def record_success(self) -> None: ...
    def record_failure(self) -> None: ...


class ConsecutiveFailureBreaker:
    """Opens after `threshold` failed calls in a row; lets one call try again after `cooldown`."""

    def __init__(self, threshold: int = 3, cooldown: float = 30.0) -> None:
        self.threshold, self.cooldown = threshold, cooldown
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        return time.monotonic() - self.opened_at >= self.cooldown  # half-open: one trial

    def record_success(self) -> None:
        self.failures, self.opened_at = 0, None

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()


class ProviderUnavailable(RuntimeError):
    """Every attempt failed (or a non-retryable error): the offline backend answers instead."""


def provider_breaker() -> Breaker:
    """The guardrails layer's provider breaker when available, else a local one."""
    try:
        from guardrails.breaker import provider_breaker as shared
    except ImportError:
        return ConsecutiveFailureBreaker()
    return shared()


def _clean(messages: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as the chat-completions API takes them (CrewAI adds private keys)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [{k: v for k, v in m.items() if k in _MESSAGE_KEYS} for m in messages]


def _answer(message: Any) -> str | list[dict[str, Any]]:
    if message.tool_calls:
        return [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in message.tool_calls
        ]
    return message.content or ""


class OpenAICompatLLM(BaseLLM):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    provider: str = "openai"
    timeout: float = 20.0
    max_retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    fallback: BaseLLM = Field(default_factory=OfflineLLM)
    breaker: Any = Field(default_factory=provider_breaker, exclude=True)
    _client: openai.OpenAI | None = PrivateAttr(default=None)

    def supports_function_calling(self) -> bool:
        return True

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 128_000

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        return meter.estimate_tokens(messages)

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self.api_key or "not-needed",
                base_url=self.base_url or None,
                timeout=self.timeout,
                max_retries=0,  # retried here, with our backoff and breaker
            )
        return self._client

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None):
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if tools:
            kwargs["tools"] = tools
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                return self.client.chat.completions.create(**kwargs)
            except RETRYABLE as exc:
                if attempt == self.max_retries:
                    raise ProviderUnavailable(f"{type(exc).__name__} after retries") from None
                log.warning("provider %s (attempt %d), retrying", type(exc).__name__, attempt + 1)
                time.sleep(min(delay, MAX_BACKOFF_SECONDS))
                delay *= 2
            except openai.APIError as exc:
                raise ProviderUnavailable(type(exc).__name__) from None
        raise ProviderUnavailable("no attempt made")

    def call(
        self,
        messages: str | list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | list[dict[str, Any]]:
        if not self.breaker.allow():
            return self._degrade(messages, tools, from_task, from_agent)
        with llm_call_context():
            meter.charge(messages, backend="openai")
            self._emit_call_started_event(
                messages=messages, tools=tools, from_task=from_task, from_agent=from_agent
            )
            try:
                response = self._request(_clean(messages), tools)
            except ProviderUnavailable as exc:
                self.breaker.record_failure()
                self._emit_call_failed_event(str(exc), from_task=from_task, from_agent=from_agent)
                failed = exc
            else:
                self.breaker.record_success()
                answer = _answer(response.choices[0].message)
                usage = response.usage.model_dump() if response.usage else None
                self._emit_call_completed_event(
                    response=answer,
                    call_type=LLMCallType.TOOL_CALL
                    if isinstance(answer, list)
                    else LLMCallType.LLM_CALL,
                    from_task=from_task,
                    from_agent=from_agent,
                    messages=messages,
                    usage=usage,
                    response_id=response.id,
                )
                return answer
        log.warning("provider unavailable (%s): answering offline", failed)
        return self._degrade(messages, tools, from_task, from_agent)

    def _degrade(self, messages, tools, from_task, from_agent) -> str | list[dict[str, Any]]:
        meter.notice(replies.say("degraded_notice"))
        return self.fallback.call(messages, tools=tools, from_task=from_task, from_agent=from_agent)

    async def acall(self, *args: Any, **kwargs: Any) -> str | list[dict[str, Any]]:
        return self.call(*args, **kwargs)

"""Any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

Native tool calling, a timeout on every request, retries with exponential backoff on 429, 5xx,
timeouts and connection errors, and the provider circuit breaker (`guardrails.breaker`): when the
provider keeps failing (or the breaker is open) the call is answered by the offline backend
instead, with a notice for the customer, rather than failing the turn. Every call is charged to
the turn's budget first (`crew.backends.usage`). Tool results and policy passages reach the
model only as quoted, scanned data (`guardrails.quoting`, `knowledge.passages_as_data`).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Any

import openai
from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from crew import replies
from crew.backends.base import ToolCallingLLM
from crew.backends.offline import OfflineLLM
from crew.backends.usage import meter
from crew.plan import StepNotFound, step_from_text
from guardrails import quoting
from guardrails.breaker import CircuitBreaker, provider_breaker

log = logging.getLogger(__name__)

RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
)
MAX_BACKOFF_SECONDS = 8.0
_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}


class ProviderUnavailable(RuntimeError):
    """Every attempt failed (or a non-retryable error): the offline backend answers instead."""


@lru_cache(maxsize=512)
def _quoted_result(tool: str, content: str) -> str:
    """A tool result as quoted, scanned data (cached: each later call resends the transcript)."""
    return quoting.quote_json(content, f"tool result of {tool}").text


def _quoted_step(content: str) -> str:
    """The step without its passages: the model reads those once, quoted (the task's
    `{passages}`). The offline fallback still gets the original messages, passages included."""
    try:
        step = step_from_text(content)
    except (StepNotFound, ValidationError):
        return content
    if not step.passages:
        return content
    return content.replace(step.to_prompt(), step.model_copy(update={"passages": []}).to_prompt())


def _message(message: dict[str, Any]) -> dict[str, Any]:
    cleaned = {k: v for k, v in message.items() if k in _MESSAGE_KEYS}
    content = cleaned.get("content")
    if isinstance(content, str):
        if cleaned.get("role") == "tool":
            cleaned["content"] = _quoted_result(str(cleaned.get("name", "a tool")), content)
        elif cleaned.get("role") == "user":
            cleaned["content"] = _quoted_step(content)
    return cleaned


def _clean(messages: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as the chat-completions API takes them (CrewAI adds private keys), with
    every tool result quoted as untrusted data (`guardrails.quoting`)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return [_message(m) for m in messages]


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


class OpenAICompatLLM(ToolCallingLLM):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    provider: str = "openai"
    timeout: float = 20.0
    max_retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    fallback: BaseLLM = Field(default_factory=OfflineLLM)
    # Every layer talks to the same provider, so by default they share the process's breaker.
    breaker: CircuitBreaker = Field(default_factory=provider_breaker, exclude=True)
    _client: openai.OpenAI | None = PrivateAttr(default=None)

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
            charged = meter.charge(messages, backend="openai")
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
                reported = usage.get("total_tokens") if usage else None
                meter.settle(answer, charged=charged, reported=reported)
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

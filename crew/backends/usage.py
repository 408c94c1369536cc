"""Per-turn accounting of model calls, shared by both backends.

The flow opens a `meter.turn(...)` around each turn; every model call (offline or remote) is
charged to it: the count (a hard per-turn budget, checked before the call is made), the prompt
size in characters, the backend that answered, and any notice for the customer (such as the
provider breaker switching to the offline backend). Economy and latency benchmarks read it.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_MODEL_CALLS = 8  # per turn (DESIGN.md budgets); a step rarely needs more than four


class ModelCallBudgetExceeded(RuntimeError):
    """The turn used all its model calls: stop instead of looping (and offer a person)."""


class TurnUsage(BaseModel):
    max_model_calls: int = DEFAULT_MODEL_CALLS
    model_calls: int = 0
    prompt_chars: list[int] = Field(default_factory=list)
    completion_chars: int = 0
    backends: list[str] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)

    @property
    def tokens(self) -> int:
        return (sum(self.prompt_chars) + self.completion_chars + 3) // 4


def _chars(messages: Any) -> int:
    if isinstance(messages, str):
        return len(messages)
    total = 0
    for message in messages or []:
        content = message.get("content")
        total += len(content if isinstance(content, str) else json.dumps(content or ""))
        if message.get("tool_calls"):
            total += len(json.dumps(message["tool_calls"]))
    return total


class Meter:
    def __init__(self) -> None:
        self._current: contextvars.ContextVar[TurnUsage | None] = contextvars.ContextVar(
            "turn_usage", default=None
        )

    @contextmanager
    def turn(self, max_model_calls: int = DEFAULT_MODEL_CALLS) -> Iterator[TurnUsage]:
        usage = TurnUsage(max_model_calls=max_model_calls)
        token = self._current.set(usage)
        try:
            yield usage
        finally:
            self._current.reset(token)

    @property
    def current(self) -> TurnUsage | None:
        return self._current.get()

    def charge(self, messages: Any, *, backend: str) -> None:
        """Count one model call before it is made; refuse it once the turn's budget is spent."""
        usage = self.current
        if usage is None:
            return
        if usage.model_calls >= usage.max_model_calls:
            raise ModelCallBudgetExceeded(f"{usage.model_calls} model calls this turn")
        usage.model_calls += 1
        usage.prompt_chars.append(_chars(messages))
        usage.backends.append(backend)

    def usage(self, messages: Any, answer: Any) -> dict[str, int]:
        """Token usage in the shape CrewAI's LLM events carry (estimated: 4 characters a token)."""
        completion = len(answer) if isinstance(answer, str) else len(json.dumps(answer))
        if self.current is not None:
            self.current.completion_chars += completion
        prompt = (_chars(messages) + 3) // 4
        completion_tokens = (completion + 3) // 4
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }

    def estimate_tokens(self, messages: Any) -> int:
        return (_chars(messages) + 3) // 4

    def notice(self, text: str) -> None:
        if self.current is not None and text not in self.current.notices:
            self.current.notices.append(text)


meter = Meter()

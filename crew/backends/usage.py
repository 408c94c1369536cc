"""Per-turn usage reporting shared by both backends, and the one place model calls are charged.

Every model call (offline or remote) goes through `meter.charge` before it is made: it charges
the turn's budget (`guardrails.budgets`, opened by the flow for every turn; it raises
`BudgetExceeded` once the turn or the conversation has spent its model calls, tokens or time)
and records what the economy and latency benchmarks report: the prompt size in characters, the
backend that answered, and any notice for the customer (such as the provider breaker switching
to the offline backend). The meter is not a budget itself: it never refuses a call.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field

from guardrails import budgets

CHARS_PER_TOKEN = 4  # the usual estimate for English text when a backend reports no usage


class TurnUsage(BaseModel):
    model_calls: int = 0
    prompt_chars: list[int] = Field(default_factory=list)
    completion_chars: int = 0
    backends: list[str] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)

    @property
    def tokens(self) -> int:
        return _tokens(sum(self.prompt_chars) + self.completion_chars)


def _tokens(chars: int) -> int:
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


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
    def turn(self) -> Iterator[TurnUsage]:
        usage = TurnUsage()
        token = self._current.set(usage)
        try:
            yield usage
        finally:
            self._current.reset(token)

    @property
    def current(self) -> TurnUsage | None:
        return self._current.get()

    def charge(self, messages: Any, *, backend: str) -> int:
        """Charge one model call to the turn's budget before it is made, and record it.

        Returns the prompt tokens charged (an estimate; `add_tokens` settles the rest)."""
        prompt_tokens = self.estimate_tokens(messages)
        budget = budgets.current()
        if budget is not None:
            budget.charge_model_call(prompt_tokens)  # raises BudgetExceeded when spent
        usage = self.current
        if usage is not None:
            usage.model_calls += 1
            usage.prompt_chars.append(_chars(messages))
            usage.backends.append(backend)
        return prompt_tokens

    def add_tokens(self, tokens: int) -> None:
        budget = budgets.current()
        if budget is not None:
            budget.add_tokens(tokens)  # never negative: an overestimate stays charged

    def _completion_tokens(self, answer: Any) -> int:
        completion = len(answer) if isinstance(answer, str) else len(json.dumps(answer))
        if self.current is not None:
            self.current.completion_chars += completion
        return _tokens(completion)

    def settle(self, answer: Any, *, charged: int, reported: int | None) -> None:
        """After a call: charge the budget what `charge` did not (the provider's own total when
        it reports one, else the completion's estimate)."""
        completion_tokens = self._completion_tokens(answer)
        self.add_tokens(completion_tokens if reported is None else reported - charged)

    def usage(self, messages: Any, answer: Any) -> dict[str, int]:
        """Estimated usage in the shape CrewAI's LLM events carry, settled with the budget."""
        prompt, completion_tokens = self.estimate_tokens(messages), self._completion_tokens(answer)
        self.add_tokens(completion_tokens)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }

    def estimate_tokens(self, messages: Any) -> int:
        return _tokens(_chars(messages))

    def notice(self, text: str) -> None:
        if self.current is not None and text not in self.current.notices:
            self.current.notices.append(text)


meter = Meter()

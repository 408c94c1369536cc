"""Budgets per turn and per conversation, and the repetition breaker.

A turn may make at most `model_calls` model calls and `tool_calls` tool calls, and run for at
most `wall_seconds`; a conversation at most `conversation_tokens` tokens and
`conversation_model_calls` model calls. The same tool with the same (canonical) arguments
`repeat_limit` times in one turn is a loop. Tripping raises a `BudgetExceeded` carrying the
sentence the customer reads (with an offer of a person) and is remembered on the budget
(`tripped`), so a caller that cannot raise (a CrewAI hook) can deny and the flow still ends the
turn:

    with turn_budget(conversation_usage) as budget:   # conversation_usage lives in flow state
        ...  # backends call budget.charge_model_call(tokens); the governance hook charges tools
    if budget.tripped: reply budget.tripped.customer_message, offer handoff
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from opentelemetry import trace
from pydantic import BaseModel

from guardrails.messages import say
from shop.idempotency import canonical

Clock = Callable[[], float]
Kind = Literal[
    "model_calls", "tool_calls", "wall_time", "tokens", "conversation_model_calls", "repetition"
]


class Limits(BaseModel):
    model_calls: int = 8  # a step rarely needs more than four; eight leaves room for a retry
    tool_calls: int = 12  # the longest flow (exchange several items) needs about six
    wall_seconds: float = 30.0  # a customer waiting longer has given up
    conversation_tokens: int = 200_000  # far beyond any honest support chat
    conversation_model_calls: int = 120  # fifteen full turns at the per-turn maximum
    repeat_limit: int = 3  # the third identical call in a turn is a loop, not a retry


class ConversationUsage(BaseModel):
    """What a conversation has spent so far (keep it in the persisted conversation state)."""

    tokens: int = 0
    model_calls: int = 0


class BudgetExceeded(RuntimeError):
    """A budget ran out: end the turn with `customer_message` and offer a person."""

    handoff_offered = True

    def __init__(self, kind: Kind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.customer_message = say("budget", kind)


class RepetitionDetected(BudgetExceeded):
    """The same tool with the same arguments again and again in one turn."""


class TurnBudget:
    """One turn's spending; thread-safe (tools may run on CrewAI's worker threads)."""

    def __init__(
        self,
        limits: Limits | None = None,
        conversation: ConversationUsage | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.limits = limits or Limits()
        self.conversation = conversation if conversation is not None else ConversationUsage()
        self.clock = clock
        self.started = clock()
        self.model_calls = self.tool_calls = self.tokens = 0
        self.calls: Counter[tuple[str, str]] = Counter()  # (tool, canonical arguments) -> times
        self.tripped: BudgetExceeded | None = None
        self._lock = threading.RLock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def _trip(self, error: BudgetExceeded) -> BudgetExceeded:
        if self.tripped is None:
            self.tripped = error
            span = trace.get_current_span()
            span.add_event(
                "guardrails.budget.tripped", {"kind": error.kind, "detail": error.detail}
            )
        return error

    def check(self) -> None:
        """Raise if the turn or the conversation is already over budget (time included)."""
        if self.tripped is not None:
            raise self.tripped
        limits = self.limits
        if self.elapsed > limits.wall_seconds:
            raise self._trip(BudgetExceeded("wall_time", f"{self.elapsed:.1f} s this turn"))
        if self.conversation.tokens > limits.conversation_tokens:
            detail = f"{self.conversation.tokens} tokens this conversation"
            raise self._trip(BudgetExceeded("tokens", detail))

    def charge_model_call(self, tokens: int = 0) -> None:
        """Count one model call before it is made (and the tokens it will use, if known)."""
        with self._lock:
            self.check()
            limits = self.limits
            if self.model_calls >= limits.model_calls:
                detail = f"{self.model_calls} model calls this turn"
                raise self._trip(BudgetExceeded("model_calls", detail))
            if self.conversation.model_calls >= limits.conversation_model_calls:
                detail = f"{self.conversation.model_calls} model calls this conversation"
                raise self._trip(BudgetExceeded("conversation_model_calls", detail))
            self.model_calls += 1
            self.conversation.model_calls += 1
            self.add_tokens(tokens)

    def add_tokens(self, tokens: int) -> None:
        """Tokens learnt after a call (the provider's usage figures)."""
        self.tokens += max(0, tokens)
        self.conversation.tokens += max(0, tokens)

    def charge_tool_call(self, tool: str, arguments: dict[str, Any]) -> None:
        """Count one tool call before it runs; the `repeat_limit`-th identical one trips."""
        with self._lock:
            self.check()
            if self.tool_calls >= self.limits.tool_calls:
                detail = f"{self.tool_calls} tool calls this turn"
                raise self._trip(BudgetExceeded("tool_calls", detail))
            key = (tool, canonical(arguments))
            if self.calls[key] + 1 >= self.limits.repeat_limit:
                detail = f"{tool} called {self.calls[key] + 1} times with the same arguments"
                raise self._trip(RepetitionDetected("repetition", detail))
            self.calls[key] += 1
            self.tool_calls += 1


_current: contextvars.ContextVar[TurnBudget | None] = contextvars.ContextVar(
    "guardrails_turn_budget", default=None
)
# Also by conversation: a hook running on a thread the turn did not start (no context copied)
# still finds its turn's budget through the tool's bound conversation id.
_by_conversation: dict[str, TurnBudget] = {}
_registry_lock = threading.Lock()


def current(conversation_id: str | None = None) -> TurnBudget | None:
    """The budget of the turn running in this context, else of that conversation's turn."""
    budget = _current.get()
    if budget is None and conversation_id:
        with _registry_lock:
            budget = _by_conversation.get(conversation_id)
    return budget


@contextmanager
def turn_budget(
    conversation: ConversationUsage | None = None,
    limits: Limits | None = None,
    clock: Clock = time.monotonic,
    conversation_id: str | None = None,
) -> Iterator[TurnBudget]:
    """Open a turn's budget for the code (and hooks) running inside the block."""
    budget = TurnBudget(limits, conversation, clock)
    token = _current.set(budget)
    if conversation_id:
        with _registry_lock:
            _by_conversation[conversation_id] = budget
    try:
        yield budget
    finally:
        _current.reset(token)
        if conversation_id:
            with _registry_lock:
                if _by_conversation.get(conversation_id) is budget:
                    del _by_conversation[conversation_id]

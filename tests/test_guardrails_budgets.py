"""Turn and conversation budgets, the repetition breaker and the provider circuit breaker."""

from __future__ import annotations

import contextlib
import threading

import pytest

from guardrails.breaker import CircuitBreaker
from guardrails.budgets import (
    BudgetExceeded,
    ConversationUsage,
    Limits,
    RepetitionDetected,
    current,
    turn_budget,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _spend(budget, steps):
    for step in steps:
        if step[0] == "model":
            budget.charge_model_call(step[1] if len(step) > 1 else 0)
        elif step[0] == "tool":
            budget.charge_tool_call(step[1], step[2])
        elif step[0] == "wait":
            budget.clock.now += step[1]
            budget.check()


ORDER = {"order_id": "#W2378156"}

# (description, limits, conversation, steps, kind that trips or None)
CASES = [
    ("eight model calls pass", Limits(), None, [("model",)] * 8, None),
    ("the ninth model call trips", Limits(), None, [("model",)] * 9, "model_calls"),
    (
        "twelve different tool calls pass",
        Limits(),
        None,
        [("tool", "get_order_details", {"order_id": f"#W{i:07d}"}) for i in range(12)],
        None,
    ),
    (
        "the thirteenth tool call trips",
        Limits(),
        None,
        [("tool", "get_order_details", {"order_id": f"#W{i:07d}"}) for i in range(13)],
        "tool_calls",
    ),
    (
        "two identical calls are a retry",
        Limits(),
        None,
        [("tool", "get_order_details", ORDER)] * 2,
        None,
    ),
    (
        "the third identical call is a loop",
        Limits(),
        None,
        [("tool", "get_order_details", ORDER)] * 3,
        "repetition",
    ),
    (
        "argument order does not hide a loop",
        Limits(),
        None,
        [
            ("tool", "search", {"a": 1, "b": 2}),
            ("tool", "search", {"b": 2, "a": 1}),
            ("tool", "search", {"a": 1, "b": 2}),
        ],
        "repetition",
    ),
    (
        "different tools with the same arguments are not a loop",
        Limits(),
        None,
        [("tool", name, ORDER) for name in ("a", "b", "c", "a", "b", "c")],
        None,
    ),
    ("29 seconds pass", Limits(), None, [("wait", 29.0), ("model",)], None),
    ("31 seconds trip", Limits(), None, [("wait", 31.0)], "wall_time"),
    (
        "wall time is checked at the next call",
        Limits(),
        None,
        [("wait", 31.0), ("model",)],
        "wall_time",
    ),
    (
        "conversation tokens trip",
        Limits(conversation_tokens=1000),
        ConversationUsage(tokens=900),
        [("model", 200), ("model",)],
        "tokens",
    ),
    (
        "conversation model calls trip",
        Limits(conversation_model_calls=10),
        ConversationUsage(model_calls=10),
        [("model",)],
        "conversation_model_calls",
    ),
]


@pytest.mark.parametrize(
    ("limits", "conversation", "steps", "kind"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_budget_table(limits, conversation, steps, kind):
    with turn_budget(conversation, limits, clock=FakeClock()) as budget:
        if kind is None:
            _spend(budget, steps)
            assert budget.tripped is None
            return
        with pytest.raises(BudgetExceeded) as caught:
            _spend(budget, steps)
    assert caught.value.kind == kind
    assert budget.tripped is caught.value
    assert "member of our team" in caught.value.customer_message
    assert caught.value.handoff_offered
    if kind == "repetition":
        assert isinstance(caught.value, RepetitionDetected)


def test_a_tripped_budget_stays_tripped():
    with turn_budget(clock=FakeClock()) as budget:
        for _ in range(8):
            budget.charge_model_call()
        with pytest.raises(BudgetExceeded):
            budget.charge_model_call()
        with pytest.raises(BudgetExceeded):
            budget.charge_tool_call("list_orders", {})  # the turn is over, tools too


def test_conversation_usage_accumulates_across_turns():
    usage = ConversationUsage()
    for _ in range(3):
        with turn_budget(usage, clock=FakeClock()) as budget:
            budget.charge_model_call(100)
            budget.charge_model_call(50)
    assert (usage.model_calls, usage.tokens) == (6, 450)


def test_current_budget_by_context_and_by_conversation():
    assert current() is None
    with turn_budget(conversation_id="conv-1") as budget:
        assert current() is budget
        found = []
        thread = threading.Thread(target=lambda: found.append(current("conv-1")))
        thread.start()
        thread.join()
        assert found == [budget]  # a worker thread without the context still finds it
    assert current() is None and current("conv-1") is None


def test_concurrent_tool_calls_never_exceed_the_budget():
    with turn_budget(limits=Limits(tool_calls=50), clock=FakeClock()) as budget:

        def work(offset):
            for i in range(40):
                with contextlib.suppress(BudgetExceeded):
                    budget.charge_tool_call("t", {"i": offset * 100 + i})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert budget.tool_calls == 50


# (events, expected states after each): "f" failure, "s" success, "w" wait 10 s, "a" allow()
BREAKER_CASES = [
    ("ff", ["closed", "closed"]),
    ("fff", ["closed", "closed", "open"]),
    ("ffsff", ["closed", "closed", "closed", "closed", "closed"]),
    ("fffw", ["closed", "closed", "open", "open"]),
    ("fffwww", ["closed", "closed", "open", "open", "open", "half_open"]),
    ("fffwwwas", ["closed", "closed", "open", "open", "open", "half_open", "half_open", "closed"]),
    ("fffwwwaf", ["closed", "closed", "open", "open", "open", "half_open", "half_open", "open"]),
]


@pytest.mark.parametrize(("events", "states"), BREAKER_CASES)
def test_breaker_state_machine(events, states):
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    seen = []
    for event in events:
        if event == "f":
            breaker.record_failure()
        elif event == "s":
            breaker.record_success()
        elif event == "w":
            clock.now += 10
        elif event == "a":
            assert breaker.allow()
        seen.append(breaker.state)
    assert seen == states


def test_half_open_lets_exactly_one_trial_through():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5
    assert [breaker.allow() for _ in range(3)] == [True, False, False]
    clock.now += 5  # the trial never reported back: another may try
    assert breaker.allow()

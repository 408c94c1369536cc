"""The fail-closed tool policy: one table row per attempted call, then the real CrewAI hook."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, StringConstraints

from guardrails import budgets
from guardrails.governance import (
    Decision,
    PendingConfirmation,
    ToolCall,
    call_from_hook,
    decide,
    make_hook,
    register_hook,
    unregister_hook,
)


class OrderRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Annotated[str, StringConstraints(pattern=r"^#W\d{7}$")]


class Cancel(OrderRef):
    reason: str


class NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


ORDER = "#W2378156"
CANCEL = {"order_id": ORDER, "reason": "no longer needed"}
HELD = frozenset(
    {"get_order_details", "cancel_pending_order", "get_user_details", "find_user_id_by_email"}
)
CONFIRMED = PendingConfirmation(
    token="tok-12345678", action="cancel_pending_order", arguments=CANCEL
)


def call(name="get_order_details", **overrides) -> ToolCall:
    schema = {"get_order_details": OrderRef, "cancel_pending_order": Cancel}.get(name, NoArguments)
    fields = {
        "tool_name": name,
        "scope": "write" if name.startswith("cancel") else "read",
        "args_schema": schema,
        "tool_input": {"order_id": ORDER} if schema is OrderRef else {},
        "agent_tools": HELD,
        "customer_id": "yusuf_rossi_9620",
        "conversation_id": "conv-1",
    }
    return ToolCall(**{**fields, **overrides})


ROWS = [
    ("read by the holder", call(), "allowed"),
    (
        "confirmed write",
        call("cancel_pending_order", tool_input=CANCEL, confirmation=CONFIRMED),
        "allowed",
    ),
    (
        "identity lookup before sign-in",
        call("find_user_id_by_email", customer_id=None, needs_customer=False),
        "allowed",
    ),
    ("tool without scope", call(scope=None), "unknown_tool"),
    ("tool without schema", call(args_schema=None), "unknown_tool"),
    ("agent does not hold it", call(agent_tools=frozenset({"list_orders"})), "not_held"),
    ("unknown agent", call(agent_tools=None), "not_held"),
    (
        "model fills the bound user id",
        call("get_user_details", tool_input={"user_id": "mei_1"}, bound=frozenset({"user_id"})),
        "bound_argument",
    ),
    (
        "extra customer_id argument",
        call(tool_input={"order_id": ORDER, "customer_id": "mei_1"}),
        "unexpected_argument",
    ),
    ("malformed order id", call(tool_input={"order_id": "1 OR 1=1"}), "invalid_arguments"),
    ("missing argument", call(tool_input={}), "invalid_arguments"),
    ("wrong type", call(tool_input={"order_id": ["#W2378156"]}), "invalid_arguments"),
    ("no authenticated customer", call(customer_id=None), "no_customer"),
    ("write without confirmation", call("cancel_pending_order", tool_input=CANCEL), "unconfirmed"),
    (
        "yes to a different action",
        call(
            "cancel_pending_order",
            tool_input=CANCEL,
            confirmation=CONFIRMED.model_copy(update={"action": "return_delivered_order_items"}),
        ),
        "unconfirmed",
    ),
    (
        "yes to a different order",
        call(
            "cancel_pending_order",
            tool_input={**CANCEL, "order_id": "#W0000001"},
            confirmation=CONFIRMED,
        ),
        "unconfirmed",
    ),
    (
        "yes to a different reason",
        call(
            "cancel_pending_order",
            tool_input={**CANCEL, "reason": "ordered by mistake"},
            confirmation=CONFIRMED,
        ),
        "unconfirmed",
    ),
    (
        "confirmation without token",
        call(
            "cancel_pending_order",
            tool_input=CANCEL,
            confirmation=CONFIRMED.model_copy(update={"token": ""}),
        ),
        "unconfirmed",
    ),
    (
        "confirmation of invalid arguments",
        call(
            "cancel_pending_order",
            tool_input=CANCEL,
            confirmation=CONFIRMED.model_copy(update={"arguments": {"order_id": "x"}}),
        ),
        "unconfirmed",
    ),
]


@pytest.mark.parametrize(("attempt", "reason"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_policy_table(attempt, reason):
    with budgets.turn_budget() as budget:
        decision = decide(attempt, budget)
    assert decision.reason == reason
    assert decision.allowed is (reason == "allowed")


def test_no_turn_budget_denies():
    assert decide(call(), None).reason == "no_budget"
    assert decide(call(), None, require_budget=False).allowed


@pytest.mark.parametrize(
    ("attempts", "last_reason"),
    [
        ([call()] * 2, "allowed"),
        ([call()] * 3, "budget"),  # the third identical call is a loop
        ([call(tool_input={"order_id": f"#W{i:07d}"}) for i in range(13)], "budget"),
        # denied calls count too: a model hammering an unconfirmed write is stopped
        ([call("cancel_pending_order", tool_input=CANCEL)] * 3, "budget"),
    ],
)
def test_budget_and_repetition(attempts, last_reason):
    with budgets.turn_budget() as budget:
        decisions = [decide(a, budget) for a in attempts]
    assert decisions[-1].reason == last_reason
    if last_reason == "budget":
        assert budget.tripped is not None


class Exploding:
    """A hook context whose every attribute access fails (a CrewAI change, a bug of ours)."""

    tool_name = "get_order_details"

    def __getattr__(self, name):
        raise RuntimeError("boom")


def test_hook_denies_when_the_policy_itself_fails():
    assert make_hook()(Exploding()) is False


# --- against real CrewAI tools, agent and hook registry ----------------------------------------


@pytest.fixture(scope="module")
def crew_parts():
    from crewai import Agent

    from crew.backends.offline import OfflineLLM
    from crew.tools import Confirmation, ToolContext, build_tool

    def make(names, customer_id="yusuf_rossi_9620", confirmation=None):
        context = ToolContext(
            engine=None,
            customer_id=customer_id,
            conversation_id="conv-9",
            confirmation=confirmation,
        )
        tools = [build_tool(context, n) for n in names]
        agent = Agent(role="orders", goal="help", backstory="store", tools=tools, llm=OfflineLLM())
        return agent, {t.name: t for t in tools}

    return make, Confirmation


def _run_hooks(agent, tool, tool_input):
    from crewai.hooks.tool_hooks import ToolCallHookContext, run_before_tool_call_hooks

    context = ToolCallHookContext(
        tool_name=tool.name, tool_input=tool_input, tool=tool.to_structured_tool(), agent=agent
    )
    return not run_before_tool_call_hooks(context)  # True: the tool would run


@pytest.fixture
def registered():
    hook = register_hook()
    yield hook
    unregister_hook()


CANCEL_REAL = {"order_id": ORDER, "reason": "no longer needed"}

REAL_ROWS = [
    (
        "read with budget",
        ["get_order_details"],
        "get_order_details",
        {"order_id": ORDER},
        None,
        True,
    ),
    (
        "write unconfirmed",
        ["cancel_pending_order"],
        "cancel_pending_order",
        CANCEL_REAL,
        None,
        False,
    ),
    (
        "write confirmed",
        ["cancel_pending_order"],
        "cancel_pending_order",
        CANCEL_REAL,
        ("cancel_pending_order", CANCEL_REAL),
        True,
    ),
    (
        "write confirmed for another order",
        ["cancel_pending_order"],
        "cancel_pending_order",
        {**CANCEL_REAL, "order_id": "#W0000001"},
        ("cancel_pending_order", CANCEL_REAL),
        False,
    ),
    (
        "forged user id",
        ["get_user_details"],
        "get_user_details",
        {"user_id": "mei_kovacs_1"},
        None,
        False,
    ),
]


@pytest.mark.parametrize(
    ("held", "name", "tool_input", "confirmed", "runs"),
    [r[1:] for r in REAL_ROWS],
    ids=[r[0] for r in REAL_ROWS],
)
def test_registered_hook_with_real_crewai(
    crew_parts, registered, held, name, tool_input, confirmed, runs
):
    make, confirmation_type = crew_parts
    confirmation = (
        confirmation_type(token="token-abcdef12", action=confirmed[0], arguments=confirmed[1])
        if confirmed
        else None
    )
    agent, tools = make(held, confirmation=confirmation)
    with budgets.turn_budget(conversation_id="conv-9"):
        assert _run_hooks(agent, tools[name], dict(tool_input)) is runs


def test_hook_denies_a_tool_the_agent_does_not_hold(crew_parts, registered):
    make, _ = crew_parts
    agent, _ = make(["get_order_details"])
    _, other = make(["cancel_pending_order"])
    with budgets.turn_budget(conversation_id="conv-9"):
        assert _run_hooks(agent, other["cancel_pending_order"], dict(CANCEL_REAL)) is False


def test_hook_denies_outside_a_turn(crew_parts, registered):
    make, _ = crew_parts
    agent, tools = make(["get_order_details"])
    assert _run_hooks(agent, tools["get_order_details"], {"order_id": ORDER}) is False


def test_adapter_reads_the_bound_context(crew_parts):
    make, confirmation_type = crew_parts
    pending = confirmation_type(
        token="token-abcdef12", action="cancel_pending_order", arguments=CANCEL_REAL
    )
    agent, tools = make(["cancel_pending_order"], confirmation=pending)
    from crewai.hooks.tool_hooks import ToolCallHookContext

    tool = tools["cancel_pending_order"]
    parsed = call_from_hook(
        ToolCallHookContext(
            tool_name=tool.name, tool_input=dict(CANCEL_REAL), tool=None, agent=agent
        )
    )
    assert (parsed.scope, parsed.customer_id, parsed.conversation_id) == (
        "write",
        "yusuf_rossi_9620",
        "conv-9",
    )
    assert parsed.confirmation.action == "cancel_pending_order"
    assert parsed.agent_tools == frozenset({"cancel_pending_order"})


def test_register_is_idempotent():
    from crewai.hooks import get_before_tool_call_hooks

    try:
        first, second = register_hook(), register_hook()
        assert first is second
        assert get_before_tool_call_hooks().count(first) == 1
    finally:
        unregister_hook()
    assert first not in get_before_tool_call_hooks()


def test_decision_deny_shape():
    assert Decision.deny("no_customer", "x") == Decision(
        allowed=False, reason="no_customer", detail="x"
    )

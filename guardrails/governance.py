"""Tool governance, fail closed: the one `before_tool_call` policy every tool call passes.

`decide(call, budget)` is a pure function over a `ToolCall` (what is being called, by whom, with
what, in which customer context) and returns a `Decision`. It allows a call only if all hold:

1. the tool is known: it declares a `scope` ("read"/"write") and an `args_schema`;
2. the calling agent holds the tool (least privilege is decided by code, not by the model);
3. the turn's budget allows another tool call and the call is not a loop (`guardrails.budgets`);
4. the model supplied no argument that code binds (`user_id`: the customer is context) and no
   argument the schema does not declare, and the arguments validate;
5. a customer is authenticated (unless the tool is an identity lookup or a handoff);
6. a write carries the confirmation of exactly this pending action: same tool, same arguments.

CrewAI swallows exceptions raised in hooks and runs the tool (fail open), so the adapter
`before_tool_call` catches everything and denies. The same money and privacy checks are repeated
inside the tools and `shop/` (defence in depth). `register_hook()` installs it process-wide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, ValidationError

from guardrails import budgets
from shop.idempotency import canonical

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Reason = Literal[
    "allowed",
    "unknown_tool",
    "not_held",
    "budget",
    "bound_argument",
    "unexpected_argument",
    "invalid_arguments",
    "no_customer",
    "unconfirmed",
    "no_budget",
    "error",
]


class PendingConfirmation(BaseModel):
    """What the customer said yes to (duck-typed: `crew.tools.Confirmation` fits)."""

    model_config = ConfigDict(frozen=True)

    token: str
    action: str
    arguments: dict[str, Any]


class ToolCall(BaseModel):
    """Everything the policy needs to know about one attempted tool call."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    tool_name: str
    scope: Literal["read", "write"] | None
    args_schema: type[BaseModel] | None
    tool_input: dict[str, Any]
    agent_tools: frozenset[str] | None  # names the calling agent holds; None = unknown agent
    customer_id: str | None = None
    conversation_id: str | None = None
    confirmation: PendingConfirmation | None = None
    needs_customer: bool = True
    bound: frozenset[str] = frozenset()  # arguments code fills from the context


class Decision(BaseModel):
    allowed: bool
    reason: Reason
    detail: str = ""

    @classmethod
    def deny(cls, reason: Reason, detail: str = "") -> Decision:
        return cls(allowed=False, reason=reason, detail=detail)


def _validated(call: ToolCall, arguments: dict[str, Any]) -> dict[str, Any]:
    assert call.args_schema is not None
    return call.args_schema.model_validate(arguments).model_dump(mode="json")


def _confirmed(call: ToolCall, arguments: dict[str, Any]) -> bool:
    pending = call.confirmation
    if pending is None or not pending.token or pending.action != call.tool_name:
        return False
    try:
        return canonical(_validated(call, pending.arguments)) == canonical(arguments)
    except ValidationError:
        return False


def decide(
    call: ToolCall, budget: budgets.TurnBudget | None, *, require_budget: bool = True
) -> Decision:
    """May this call run? Denies unless every check passes (see the module docstring)."""
    if call.scope not in {"read", "write"} or call.args_schema is None:
        return Decision.deny("unknown_tool", f"{call.tool_name} declares no scope or schema")
    if call.agent_tools is None or call.tool_name not in call.agent_tools:
        return Decision.deny("not_held", f"the agent does not hold {call.tool_name}")
    if budget is None:
        if require_budget:
            return Decision.deny("no_budget", "tool call outside a turn budget")
    else:
        try:
            budget.charge_tool_call(call.tool_name, call.tool_input)
        except budgets.BudgetExceeded as exc:
            return Decision.deny("budget", str(exc))
    supplied = set(call.tool_input)
    if forged := sorted(supplied & call.bound):
        return Decision.deny("bound_argument", f"set by code, not the model: {forged}")
    if extra := sorted(supplied - set(call.args_schema.model_fields)):
        return Decision.deny("unexpected_argument", f"not in the schema: {extra}")
    try:
        arguments = _validated(call, call.tool_input)
    except ValidationError as exc:
        return Decision.deny("invalid_arguments", f"{exc.error_count()} invalid argument(s)")
    if call.needs_customer and not call.customer_id:
        return Decision.deny("no_customer", "no authenticated customer in this conversation")
    if call.scope == "write" and not _confirmed(call, arguments):
        return Decision.deny("unconfirmed", "not the action the customer confirmed")
    return Decision(allowed=True, reason="allowed")


# --- CrewAI adapter -------------------------------------------------------------------------


def _sanitize(name: str) -> str:
    from crewai.utilities.string_utils import sanitize_tool_name

    return sanitize_tool_name(name)


def _agent_tools(agent: Any) -> frozenset[str] | None:
    tools = getattr(agent, "tools", None)
    if agent is None or tools is None:
        return None
    return frozenset(_sanitize(tool.name) for tool in tools)


def _base_tool(context: Any) -> Any:
    """The project's BaseTool behind the hook's tool (CrewAI wraps it, or passes None)."""
    tool = getattr(context, "tool", None)
    base = getattr(tool, "_original_tool", None) or tool
    if base is None:  # native tool calls without a structured tool: find it on the agent
        for candidate in getattr(getattr(context, "agent", None), "tools", None) or []:
            if _sanitize(candidate.name) == context.tool_name:
                return candidate
    return base


def call_from_hook(context: Any) -> ToolCall:
    """A `ToolCall` from CrewAI's `ToolCallHookContext` and the tool's bound `ToolContext`."""
    base = _base_tool(context)
    bound_context = getattr(base, "context", None)
    pending = getattr(bound_context, "confirmation", None)
    scope = getattr(base, "scope", None)
    return ToolCall(
        tool_name=context.tool_name,
        scope=scope if scope in {"read", "write"} else None,
        args_schema=getattr(base, "args_schema", None),
        tool_input=dict(context.tool_input or {}),
        agent_tools=_agent_tools(getattr(context, "agent", None)),
        customer_id=getattr(bound_context, "customer_id", None),
        conversation_id=getattr(bound_context, "conversation_id", None),
        confirmation=(
            PendingConfirmation(
                token=pending.token, action=pending.action, arguments=dict(pending.arguments)
            )
            if pending is not None
            else None
        ),
        needs_customer=bool(getattr(base, "needs_customer", True)),
        bound=frozenset(getattr(base, "bound", frozenset())),
    )


def make_hook(*, require_budget: bool = True) -> Callable[[Any], bool | None]:
    """A CrewAI `before_tool_call` hook enforcing `decide`; None lets the call run."""

    def before_tool_call(context: Any) -> bool | None:
        with tracer.start_as_current_span("guardrails.governance") as span:
            try:
                call = call_from_hook(context)
                budget = budgets.current(call.conversation_id)
                decision = decide(call, budget, require_budget=require_budget)
            except Exception as exc:  # CrewAI would swallow it and run the tool: deny instead
                log.exception(
                    "tool governance failed; denying %r", getattr(context, "tool_name", "?")
                )
                decision = Decision.deny("error", type(exc).__name__)
            span.set_attribute("guardrails.governance.tool", str(getattr(context, "tool_name", "")))
            span.set_attribute("guardrails.governance.allowed", decision.allowed)
            span.set_attribute("guardrails.governance.reason", decision.reason)
            span.set_attribute("guardrails.governance.detail", decision.detail)
            if decision.allowed:
                return None
            log.warning("tool call denied: %s (%s)", decision.reason, decision.detail)
            return False

    return before_tool_call


_registered: Callable[[Any], bool | None] | None = None
_register_lock = threading.Lock()


def register_hook(*, require_budget: bool = True) -> Callable[[Any], bool | None]:
    """Install the policy as a process-wide CrewAI hook, once (later calls return the same)."""
    global _registered
    from crewai.hooks import register_before_tool_call_hook

    with _register_lock:
        if _registered is None:
            _registered = make_hook(require_budget=require_budget)
            register_before_tool_call_hook(_registered)
        return _registered


def unregister_hook() -> None:
    global _registered
    from crewai.hooks import unregister_before_tool_call_hook

    with _register_lock:
        if _registered is not None:
            unregister_before_tool_call_hook(_registered)
            _registered = None

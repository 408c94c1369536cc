"""The two kinds of store tool: reads answer for the bound customer, writes need a confirmation.

Both return JSON text, errors included (`{"error": kind, "message": ...}`): a model reads a
refusal and can explain it; it never sees an exception or a stack trace.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Any, ClassVar, Literal

from crewai.tools import BaseTool
from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import trace
from pydantic import Field, ValidationError

from crew.tools.context import Confirmation, ToolContext
from shop import gateway
from shop.idempotency import canonical

tracer = trace.get_tracer(__name__)

Scope = Literal["read", "write"]


def refusal(kind: str, message: str) -> str:
    return json.dumps({"error": kind, "message": message})


def _reply(outcome: gateway.Outcome) -> str:
    if outcome.status == "error" and outcome.error is not None:
        return refusal(outcome.error.kind, outcome.error.message)
    if outcome.status == "pending_approval":
        return json.dumps(
            {
                "status": "pending_approval",
                "approval_id": outcome.approval_id,
                "amount": (outcome.result or {}).get("amount"),
                "message": "The refund is above the amount we can approve automatically: a staff "
                "member will review it, and the customer will be told the decision here.",
            }
        )
    return json.dumps(outcome.result)


class StoreTool(BaseTool):
    """A tool bound to one conversation's `ToolContext`."""

    scope: ClassVar[Scope]
    context: ToolContext = Field(exclude=True)
    # Operation parameters filled from the context instead of by the model (τ²'s `user_id`).
    bound: frozenset[str] = Field(default=frozenset(), exclude=True)
    # Identity lookups (how a customer gets authenticated) and asking for a person run before
    # sign-in; everything else needs the authenticated customer.
    needs_customer: bool = Field(default=True, exclude=True)

    def _validate_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        # BaseTool.run would raise on invalid arguments; `_run` validates them itself and
        # answers with a JSON error the model can read.
        return kwargs

    def _arguments(self, given: dict[str, Any]) -> dict[str, Any]:
        """The model's arguments as the schema reads them (defaults filled, types coerced)."""
        return self.args_schema.model_validate(given).model_dump(mode="json")

    def _with_bound(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {**arguments, **{name: self.context.customer_id for name in self.bound}}

    def _run(self, **given: Any) -> str:
        with tracer.start_as_current_span(f"tool.{self.name}") as span:
            span.set_attribute(
                SpanAttributes.OPENINFERENCE_SPAN_KIND, OpenInferenceSpanKindValues.TOOL.value
            )
            span.set_attribute(SpanAttributes.TOOL_NAME, self.name)
            span.set_attribute(SpanAttributes.INPUT_VALUE, canonical(given))
            try:
                arguments = self._arguments(given)
            except ValidationError as exc:
                reply = refusal("invalid_argument", _first_error(exc))
            else:
                reply = self._answer(arguments)
            span.set_attribute(SpanAttributes.OUTPUT_VALUE, reply)
            return reply

    @abstractmethod
    def _answer(self, arguments: dict[str, Any]) -> str:
        """The JSON reply for validated `arguments`."""


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "arguments"
    return f"{where}: {error['msg']}"


class ReadTool(StoreTool):
    scope: ClassVar[Scope] = "read"

    def _answer(self, arguments: dict[str, Any]) -> str:
        if self.needs_customer and not self.context.customer_id:
            return refusal("not_authenticated", "Identify the customer first (email or name+zip).")
        customer_id = self.context.customer_id if self.needs_customer else None
        outcome = gateway.read(
            self.context.engine,
            customer_id=customer_id,
            action=self.name,
            arguments=self._with_bound(arguments),
        )
        return _reply(outcome)


class WriteTool(StoreTool):
    scope: ClassVar[Scope] = "write"

    def confirms(self, confirmation: Confirmation | None, arguments: dict[str, Any]) -> bool:
        """True only for a confirmation of this very action with these very arguments."""
        if confirmation is None or confirmation.action != self.name:
            return False
        try:
            confirmed = self._arguments(confirmation.arguments)
        except ValidationError:
            return False
        return canonical(confirmed) == canonical(arguments)

    def _answer(self, arguments: dict[str, Any]) -> str:
        context = self.context
        if self.needs_customer and not context.customer_id:
            return refusal("not_authenticated", "Identify the customer first (email or name+zip).")
        if not self.confirms(context.confirmation, arguments):
            return refusal(
                "confirmation_required",
                "Nothing was changed. State this exact action (order, items, amounts, payment "
                "method) to the customer and ask for an explicit yes before calling it.",
            )
        outcome = gateway.execute(
            context.engine,
            customer_id=context.customer_id,
            action=self.name,
            arguments=self._with_bound(arguments),
            idempotency_key=context.confirmation.token,
            actor=context.who,
            conversation_id=context.conversation_id,
        )
        return _reply(outcome)

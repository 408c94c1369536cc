"""The assistant as the UI sees it: start a conversation, take a turn, sign in, read history.

Stateless between calls: every turn loads the conversation from SQL, runs one `SupportFlow`
kickoff inside its own trace (the flow opens the turn's budget), and saves the state back, so
any replica can serve any turn. `Assistant.create` registers the fail-closed tool governance
hook (`guardrails.governance`) before any agent can run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import trace
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from crew.agents import Specialists, quiet_console
from crew.backends.usage import TurnUsage, meter
from crew.flow import Services, StepNote, SupportFlow, TurnState
from crew.state import ConversationState, ConversationStore, UnknownConversation
from guardrails import governance

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

__all__ = [
    "Assistant",
    "DecisionNews",
    "PendingConfirmation",
    "StepNote",
    "TurnResult",
    "UnknownConversation",
]


class PendingConfirmation(BaseModel):
    token: str
    summary: str


class TurnResult(BaseModel):
    reply: str
    steps: list[StepNote] = Field(default_factory=list)
    confirmation: PendingConfirmation | None = None
    handoff: bool = False
    trace_id: str | None = None
    cards: list[dict[str, Any]] = Field(default_factory=list)
    usage: TurnUsage | None = None  # model calls and prompt sizes of this turn


class DecisionNews(BaseModel):
    """What a conversation learnt, between turns, of the staff decisions it waits for."""

    result: TurnResult | None = None  # the outcome, already saved in the conversation
    waiting: int = 0  # its approvals still undecided


def _services(engine: Engine) -> Services:
    from crew.intent.catalog import Catalog
    from crew.intent.router import Router
    from knowledge.seed import ensure_ingested
    from shop import catalog, seed
    from shop.db import create_schema, transaction

    create_schema(engine)
    seed.ensure_seeded(engine)
    with transaction(engine) as session:
        products = catalog.products(session)
    return Services(
        engine=engine,
        router=Router.load(Catalog.from_products(products)),
        policies=ensure_ingested(engine),
        specialists=Specialists(),
    )


class Assistant:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.conversations = ConversationStore(services.engine)

    @classmethod
    def create(cls, engine: Engine | None = None, *, warm: bool = True) -> Assistant:
        """The assistant over `engine` (default: the configured database), seeded and ready."""
        from shop.db import default_engine

        quiet_console()
        governance.register_hook()
        assistant = cls(_services(engine or default_engine()))
        if warm:
            assistant.warm_up()
        return assistant

    def warm_up(self) -> None:
        """Pay the first-kickoff costs (CrewAI, the router, the index) before a customer does.
        The injection detector loads (or trains) first, outside any turn's wall-time budget."""
        from guardrails import injection_model

        injection_model.detector()
        scratch = ConversationState(conversation_id="warm-up")
        self._kickoff(scratch, "hello", "warm-up")
        self._kickoff(scratch, "what is your return policy?", "warm-up")

    def start(self, *, customer_id: str | None = None) -> str:
        state = self.conversations.create()
        if customer_id is not None:
            self.sign_in(state.conversation_id, customer_id=customer_id)
        return state.conversation_id

    def turn(self, conversation_id: str, message: str, *, client_id: str = "local") -> TurnResult:
        state, version = self.conversations.load(conversation_id)
        state.add_message("user", message)
        result = self._traced(state, message, client_id)
        state.add_message("assistant", result.reply, trace_id=result.trace_id)
        self.conversations.save(state, version)
        return result

    def sign_in(
        self,
        conversation_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        zip: str | None = None,
        customer_id: str | None = None,
    ) -> TurnResult:
        """The UI's sign-in: a verified customer id, or credentials checked like in the chat."""
        if customer_id is None:
            if email:
                message = f"My email is {email}"
            else:
                message = f"I'm {first_name} {last_name}, zip code {zip}"
            return self.turn(conversation_id, message)
        state, version = self.conversations.load(conversation_id)
        flow = self._flow(state, "", "local")
        if state.customer_id and state.customer_id != customer_id:
            reply = "This conversation is already signed in as another customer."
            return TurnResult(reply=reply)
        flow.sign_in(customer_id)
        reply = " ".join(flow.state.replies)
        state.add_message("assistant", reply)
        self.conversations.save(state, version)
        return TurnResult(reply=reply, steps=flow.state.notes)

    def history(self, conversation_id: str) -> list[dict[str, Any]]:
        state, _ = self.conversations.load(conversation_id)
        return [m.model_dump(mode="json") for m in state.history]

    def state(self, conversation_id: str) -> ConversationState:
        return self.conversations.load(conversation_id)[0]

    def report_decisions(self, conversation_id: str) -> DecisionNews:
        """Tell the conversation, between turns, the outcome of approvals staff decided: the
        message its next turn would have opened with, passed through the same output check as
        a turn's reply (`SupportFlow.finish`), saved in its history once (the flow stops
        watching an approval it reported). Cheap enough to poll: a few small reads while
        nothing is decided, no model call. `waiting` counts the approvals still pending; one
        whose row is gone is not waited for. Raises `ConcurrentTurn` if a turn saved first
        (nothing is saved; that turn reports it, or the next poll does)."""
        from shop.approvals import get_approval

        state, version = self.conversations.load(conversation_id)
        watched = [get_approval(self.services.engine, w.approval_id) for w in state.approvals]
        waiting = sum(approval is not None and approval.status == "pending" for approval in watched)
        if not any(approval and approval.status != "pending" for approval in watched):
            return DecisionNews(waiting=waiting)
        with _poll_span(state) as span:
            flow = self._flow(state, "", "local")
            flow.report_approvals()
            flow.finish()  # the turn's output check: grounding, other customers' data
            reply = flow.state.reply
            span.set_attribute(SpanAttributes.OUTPUT_VALUE, reply)
            trace_id = _trace_id()
        state.add_message("assistant", reply, trace_id=trace_id)
        self.conversations.save(state, version)
        result = TurnResult(reply=reply, steps=flow.state.notes, trace_id=trace_id)
        return DecisionNews(result=result, waiting=waiting)

    # --- internals ----------------------------------------------------------------------------

    def _flow(self, state: ConversationState, message: str, client_id: str) -> SupportFlow:
        flow = SupportFlow(
            initial_state=TurnState(conversation=state, message=message, client_id=client_id)
        ).bind(self.services)
        # The flow re-validates its initial state into a copy: work on the same object.
        flow.state.conversation = state
        return flow

    def _kickoff(self, state: ConversationState, message: str, client_id: str) -> TurnResult:
        flow = self._flow(state, message, client_id)
        with meter.turn() as usage:
            flow.kickoff()  # counts the turn's usage into `state.usage`
        turn = flow.state
        pending = state.pending
        return TurnResult(
            reply=turn.reply,
            steps=turn.notes,
            confirmation=PendingConfirmation(token=pending.token, summary=pending.summary)
            if pending
            else None,
            handoff=turn.handoff,
            cards=turn.cards,
            usage=usage,
        )

    def _traced(self, state: ConversationState, message: str, client_id: str) -> TurnResult:
        try:
            import tracing
        except ImportError:
            return self._kickoff(state, message, client_id)
        with tracing.turn_span(state.conversation_id, state.customer_id, message) as span:
            result = self._kickoff(state, message, client_id)
            span.set_attribute("output.value", result.reply)
            result.trace_id = tracing.current_trace_id()
        return result


@contextmanager
def _poll_span(state: ConversationState) -> Iterator[trace.Span]:
    """The span of a poll that reports a decision: its reply passes the turn's output check,
    and shows in the conversation's session like a turn."""
    attributes = {
        SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.CHAIN.value,
        SpanAttributes.SESSION_ID: state.conversation_id,
    }
    with tracer.start_as_current_span("report_decisions", attributes=attributes) as span:
        yield span


def _trace_id() -> str | None:
    try:
        import tracing
    except ImportError:
        return None
    return tracing.current_trace_id()

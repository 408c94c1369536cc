"""SupportFlow: one customer turn, guardrails → router → plan → agent steps → output check.

The flow is code, and decides everything that must not be left to a model: who the customer is,
what the plan is, what is pending confirmation, whether a yes answers it, and what goes out.
Agents only carry out single typed steps (`crew.agents.Specialists`). The conversation's state
is loaded before and saved after each turn by the caller (`crew.assistant`), from SQL.

The guardrails layer decides its own questions; the flow only calls it: input checks
(`guardrails.input`) before anything else, the output check (`guardrails.grounding`) before the
reply leaves, and every kickoff runs inside the turn's budget (`guardrails.budgets`) that the
backends charge for model calls and the tool governance hook for tool calls. A tripped budget
ends the turn with the guardrails' sentence and an offer of a person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from crewai.flow.flow import Flow, listen, or_, router, start
from crewai.flow.runtime import FlowState
from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy import Engine

from crew import confirm, replies, resolve
from crew.agents import AgentRun, Observation, Specialists
from crew.backends.usage import meter
from crew.plan import Passage, Step, ToolCall
from crew.replies import say
from crew.state import ConversationState, PendingAction, WatchedApproval
from crew.tools.context import Confirmation, ToolContext
from guardrails import budgets, grounding, redaction
from guardrails import input as input_checks
from knowledge.passages import passages_as_data
from shop import gateway

NoteKind = Literal["guardrail", "routing", "retrieval", "tool", "approval", "budget"]
NEEDS_CUSTOMER = {
    "order_status",
    "cancel_order",
    "modify_order",
    "return_items",
    "exchange_items",
    "account",
}
POLICY_PASSAGES = 3


class StepNote(BaseModel):
    kind: NoteKind
    title: str
    detail: str = ""


class TurnState(FlowState):
    conversation: ConversationState | None = None
    message: str = ""
    client_id: str = "local"
    refused: bool = False
    replies: list[str] = Field(default_factory=list)
    notes: list[StepNote] = Field(default_factory=list)
    evidence: list[Any] = Field(default_factory=list)
    cards: list[dict[str, Any]] = Field(default_factory=list)
    handoff: bool = False
    reply: str = ""


@dataclass
class Services:
    engine: Engine
    router: Any  # crew.intent.router.Router
    policies: Any | None  # knowledge.store.PolicyStore
    specialists: Specialists
    limits: budgets.Limits = field(default_factory=budgets.Limits)  # per turn, per conversation


class SupportFlow(Flow[TurnState]):
    # A flow otherwise creates a CrewAI Memory (a LanceDB store: seconds of imports, files in
    # the data dir) per instance, i.e. per turn. Conversation state is ours (crew.state).
    _skip_auto_memory: bool = True
    _services: Services = PrivateAttr()
    _budget: budgets.TurnBudget | None = PrivateAttr(default=None)

    def bind(self, services: Services) -> SupportFlow:
        self._services = services
        return self

    def kickoff(self, *args: Any, **kwargs: Any) -> Any:
        """One turn, inside its budget: model calls, tool calls and time for this turn; tokens
        and model calls for the conversation (kept in its persisted `usage`)."""
        convo = self.state.conversation
        spent = budgets.ConversationUsage(
            tokens=convo.usage.tokens, model_calls=convo.usage.model_calls
        )
        with budgets.turn_budget(
            spent, self._services.limits, conversation_id=convo.conversation_id
        ) as budget:
            self._budget = budget
            try:
                return super().kickoff(*args, **kwargs)
            finally:
                convo.usage.turns += 1
                convo.usage.model_calls = spent.model_calls
                convo.usage.tokens = spent.tokens
                convo.usage.tool_calls += budget.tool_calls

    @property
    def convo(self) -> ConversationState:
        return self.state.conversation

    def note(self, kind: NoteKind, title: str, detail: str = "") -> None:
        self.state.notes.append(StepNote(kind=kind, title=title, detail=detail))

    def say(self, text: str) -> None:
        if text:
            self.state.replies.append(text)

    # --- the turn -----------------------------------------------------------------------------

    @start()
    def screen(self) -> None:
        verdict = input_checks.check_message(
            self.state.message,
            session_id=self.convo.conversation_id,
            client_id=self.state.client_id,
        )
        if not verdict.allowed:
            self.state.refused = True
            self.note("guardrail", f"Message refused: {verdict.kind}", verdict.detail)
            self.say(verdict.message)
        else:
            self.note("guardrail", "Input checks passed")

    @router(screen)
    def gate(self) -> str:
        return "refused" if self.state.refused else "accepted"

    @listen("accepted")
    def converse(self) -> None:
        self.report_approvals()
        try:
            self._converse()
        except budgets.BudgetExceeded as exc:
            self._stop_for_budget(exc)

    @listen(or_("refused", converse))
    def finish(self) -> None:
        reply = "\n\n".join(self.state.replies) or say("clarify")
        usage = meter.current
        if usage is not None and usage.notices:
            reply = f"{' '.join(usage.notices)}\n\n{reply}"
        evidence = [self.state.message, *self.state.evidence]  # the customer's own words count
        verdict = grounding.check_reply(reply, evidence, customer_id=self.convo.customer_id)
        if not verdict.allowed:
            # Name what was ungrounded, but never repeat leaked data (notes reach the UI).
            detail = redaction.redact_text(", ".join(verdict.ungrounded))
            if verdict.leaks:
                detail = f"{detail}; {len(verdict.leaks)} item(s) of another customer".lstrip("; ")
            self.note("guardrail", "Reply withheld: ungrounded facts", detail)
            reply = say("tool_error")
        self.state.reply = reply

    def _stop_for_budget(self, exc: budgets.BudgetExceeded) -> None:
        """End the turn with the guardrails' sentence, and make its offer of a person real: a yes
        next turn opens a handoff (the trace has the trip as a span event from the budget)."""
        self.note("budget", f"Budget reached: {exc.kind}", exc.detail)
        self.convo.queue = []
        self.convo.awaiting = None
        step = Step(
            id=uuid.uuid4().hex[:8],
            kind="policy",
            agent="policy",
            intent="human_agent",
            request=f"The assistant stopped: {exc.kind} budget reached ({exc.detail})",
        )
        self.convo.pending = PendingAction(
            token=f"handoff-{uuid.uuid4().hex}",
            call=ToolCall(tool="transfer_to_human_agents", arguments={"summary": step.request}),
            summary=exc.customer_message,
            step=step,
        )
        self.say(exc.customer_message)

    # --- routing and planning ---------------------------------------------------------------

    def _converse(self) -> None:
        text = self.state.message
        classified = self._services.router.classify(text)
        labels = ", ".join(f"{i.label} {i.confidence:.2f}" for i in classified.intents) or "unsure"
        self.note(
            "routing",
            f"Intents: {labels}",
            classified.entities.model_dump_json(exclude_defaults=True),
        )
        entities = classified.entities
        signed_in_now = self._authenticate(entities)
        intents = [i for i in classified.intents]
        labels_only = [i.label for i in intents]

        if self.convo.pending is not None and self._answer_pending(labels_only, text, entities):
            return
        if self.convo.awaiting is not None and self._answer_awaiting(labels_only, text, entities):
            return
        identified = bool(entities.emails or entities.name or entities.zip_codes)
        ignored = {"smalltalk", "affirm", "deny"} | ({"out_of_scope"} if identified else set())
        business = [i for i in intents if i.label not in ignored]
        if not business:
            if signed_in_now or (identified and self.state.replies):
                self._run_queue()
                return
            self._small_talk(intents, text)
            return
        steps = self._plan(business, text, entities)
        if steps is None:
            return
        self.convo.queue = steps + self.convo.queue
        self._run_queue()

    def _plan(self, intents: list, text: str, entities) -> list[Step] | None:
        steps: list[Step] = []
        message_refs = []
        segments = [(i, self._segment_entities(i, text, entities)) for i in intents]
        for intent, seg in segments:
            kind = resolve.kind_for(intent, intent.segment or text, seg)
            if kind in {"return", "exchange", "cancel", "modify_items"}:
                message_refs += resolve._item_refs(
                    intent.segment or text,
                    seg,
                    resolve._split_options(intent.segment or text, seg)[0],
                )
        for intent, seg in segments:
            segment = intent.segment or text
            if intent.label == "human_agent":
                steps.append(
                    Step(
                        id="handoff",
                        kind="policy",
                        agent="policy",
                        intent="human_agent",
                        request=segment,
                    )
                )
                continue
            if intent.label == "out_of_scope":
                self.say(say("out_of_scope"))
                continue
            kind = resolve.kind_for(intent, segment, seg)
            if kind is None:
                continue
            steps.append(resolve.step_for(kind, intent, segment, seg, self.convo, message_refs))
        needs_customer = any(s.intent in NEEDS_CUSTOMER for s in steps) or any(
            s.kind == "recommend" and (s.target.items or s.target.order_id) for s in steps
        )
        if needs_customer and not self.convo.customer_id:
            self.convo.queue = steps
            if not self.state.replies:
                self.say(self._auth_prompt())
            return None
        self.note(
            "routing",
            "Plan: " + " → ".join(s.kind for s in steps) if steps else "Plan: nothing to do",
        )
        return steps

    def _segment_entities(self, intent, text: str, entities):
        if not intent.segment or intent.segment == text:
            return entities
        seg = self._services.router.entities(intent.segment)
        if not seg.order_ids and entities.order_ids:
            seg.order_ids = list(entities.order_ids)
        return seg

    def _small_talk(self, intents, text: str) -> None:
        if not intents:
            self.say(say("clarify"))
            return
        lowered = text.lower()
        if any(w in lowered for w in ("bye", "goodbye", "see you")):
            self.say(say("goodbye"))
        elif any(w in lowered for w in ("thank", "thx", "cheers")):
            self.say(say("thanks"))
        elif intents[0].label in {"affirm", "deny"}:
            self.say(say("nothing_pending"))
        else:
            self.say(say("greeting"))

    # --- authentication -----------------------------------------------------------------------

    def _auth_prompt(self) -> str:
        if self.convo.partial_name:
            return say("auth_partial_name")
        if self.convo.partial_zip:
            return say("auth_partial_zip")
        return say("auth_needed")

    def _find_customer(self, action: str, **arguments: str) -> str | None:
        outcome = gateway.read(
            self._services.engine, customer_id=None, action=action, arguments=arguments
        )
        return str(outcome.result) if outcome.status == "ok" and outcome.result else None

    def _authenticate(self, entities) -> bool:
        """Sign the customer in from an email or name + zip in the message. True if it just
        happened (so the queued request can go on)."""
        found = None
        tried = False
        name = entities.name
        zip_code = entities.zip_codes[0] if entities.zip_codes else self.convo.partial_zip
        if name is None and self.convo.partial_name and entities.zip_codes:
            first, last = self.convo.partial_name
        elif name is not None:
            first, last = name.first_name, name.last_name
        else:
            first = last = None
        if entities.emails:
            tried = True
            found = self._find_customer("find_user_id_by_email", email=entities.emails[0])
        elif first and last and zip_code:
            tried = True
            found = self._find_customer(
                "find_user_id_by_name_zip", first_name=first, last_name=last, zip=zip_code
            )
        elif first and last and not self.convo.customer_id:
            self.convo.partial_name = (first, last)
            self.say(say("auth_partial_name"))
            return False
        elif entities.zip_codes and not self.convo.customer_id and self.convo.queue:
            self.convo.partial_zip = entities.zip_codes[0]
        if not tried:
            return False
        self.convo.partial_name = self.convo.partial_zip = None
        if found is None:
            self.note("guardrail", "Identity not verified")
            if not self.convo.customer_id:
                self.say(say("auth_failed"))
            else:
                self.say(say("auth_other_customer"))
            return False
        if self.convo.customer_id and found != self.convo.customer_id:
            self.note("guardrail", "Second identity refused")
            self.say(say("auth_other_customer"))
            return False
        if self.convo.customer_id == found:
            return False
        return self.sign_in(found)

    def sign_in(self, customer_id: str) -> bool:
        self.convo.customer_id = customer_id
        user = self._read("get_user_details")
        first = user["name"]["first_name"] if isinstance(user, dict) else ""
        self.convo.customer_name = first
        self.note("guardrail", "Customer authenticated")
        self.say(say("auth_ok", first_name=first))
        return True

    # --- confirmation protocol ----------------------------------------------------------------

    def _answer_pending(self, labels: list[str], text: str, entities) -> bool:
        """Handle the customer's answer to a pending action. True if the turn is done."""
        pending = self.convo.pending
        affirmed = labels[:1] == ["affirm"] and not set(labels) - {"affirm", "smalltalk"}
        if pending.step.intent == "human_agent":  # the offer of a person after a budget trip
            return self._answer_handoff_offer(pending, affirmed, labels)
        if affirmed:
            self.convo.pending = None
            self._execute(pending)
            self._run_queue()
            return True
        self.convo.pending = None
        if labels[:1] == ["deny"] and not entities.payment_methods and not entities.options:
            self.note("approval", "Customer declined the pending action")
            self.say(say("declined"))
            self.convo.queue = []
            return True
        revised = resolve.merge_into(pending.step, text, entities, self.convo)
        revising = revised.target != pending.step.target and not (
            set(labels) - {pending.step.intent, "deny", "affirm", "smalltalk"}
        )
        if revising:
            self.note("approval", "Pending action revised")
            self.convo.queue = [revised, *self.convo.queue]
            self._run_queue()
            return True
        self.note("approval", "Pending action dropped for a new request")
        self.say(say("declined").split(".")[0] + " — I've dropped that request.")
        return False

    def _answer_handoff_offer(
        self, offer: PendingAction, affirmed: bool, labels: list[str]
    ) -> bool:
        self.convo.pending = None
        if affirmed:
            self._handoff(offer.step.request)
            return True
        if labels[:1] == ["deny"]:
            self.say(say("declined"))
            return True
        return False  # a new request: the offer lapses quietly

    def _answer_awaiting(self, labels: list[str], text: str, entities) -> bool:
        step = self.convo.awaiting
        self.convo.awaiting = None
        other = set(labels) - {step.intent, "smalltalk", "affirm"}
        if labels and other and labels[0] not in {"deny"}:
            return False
        if labels[:1] == ["deny"]:
            self.say(say("declined"))
            return True
        self.convo.queue = [resolve.merge_into(step, text, entities, self.convo), *self.convo.queue]
        self._run_queue()
        return True

    def _execute(self, pending: PendingAction) -> None:
        step = Step(
            id=uuid.uuid4().hex[:8],
            kind="execute",
            agent=pending.step.agent,
            intent=pending.step.intent,
            execute=pending.call,
            facts=pending.facts,
            tools=[pending.call.tool],
        )
        confirmation = Confirmation(
            token=pending.token, action=pending.call.tool, arguments=pending.call.arguments
        )
        self.note("approval", f"Confirmed: {pending.call.tool}", pending.summary)
        run = self._run_agent(step, confirmation)
        for seen in run.observations:
            if (
                seen.tool == pending.call.tool
                and isinstance(seen.result, dict)
                and seen.result.get("status") == "pending_approval"
            ):
                approval_id = int(seen.result["approval_id"])
                self.convo.approvals.append(
                    WatchedApproval(approval_id=approval_id, summary=_action(pending.summary))
                )
                self.note("approval", f"Sent for staff approval (#{approval_id})")
        self.state.evidence.append(pending.facts)
        self.say(run.report.reply)

    # --- running steps ------------------------------------------------------------------------

    def _run_queue(self) -> None:
        while self.convo.queue:
            self._budget.check()  # time and tokens left for another step?
            step = self.convo.queue.pop(0)
            if step.intent == "human_agent":
                self._handoff(step.request)
                continue
            if step.intent in NEEDS_CUSTOMER and not self.convo.customer_id:
                self.convo.queue.insert(0, step)
                self.say(self._auth_prompt())
                return
            step = step.model_copy(update={"recent_orders": list(self.convo.recent_orders)})
            quoted = ""
            if step.kind == "policy":
                step, quoted = self._with_passages(step)
            run = self._run_agent(step, passages=quoted)
            report = run.report
            if report.proposal is not None:
                self._propose(step, report.proposal)
                return
            if report.missing and step.kind not in {
                "policy",
                "order_status",
                "list_orders",
                "profile",
                "recommend",
            }:
                self.convo.awaiting = step
            self.say(report.reply)

    def _run_agent(
        self, step: Step, confirmation: Confirmation | None = None, passages: str = ""
    ) -> AgentRun:
        # What the governance hook reads from each tool: the customer, the conversation (which
        # finds this turn's budget) and the confirmed action; the agent carries its tool set.
        context = ToolContext(
            engine=self._services.engine,
            customer_id=self.convo.customer_id,
            conversation_id=self.convo.conversation_id,
            confirmation=confirmation,
        )
        run = self._services.specialists.run(step, context, passages)
        for seen in run.observations:
            self._observe(seen)
        if self._budget.tripped is not None:  # the hook denied a call over budget
            raise self._budget.tripped
        self.convo.remember_order(run.report.order_id)
        self.convo.remember_products(run.report.products)
        return run

    def _observe(self, seen: Observation) -> None:
        self.note(
            "tool",
            f"{seen.tool}({', '.join(f'{k}={v}' for k, v in seen.arguments.items())})",
            "error: " + str(seen.error) if seen.error else "ok",
        )
        self.state.evidence.append(seen.result)
        if seen.error:
            return
        if seen.tool == "get_order_details" and isinstance(seen.result, dict):
            self.state.cards.append({"type": "order", **_order_card(seen.result)})
        if seen.tool == "get_product_details" and isinstance(seen.result, dict):
            pass

    def _with_passages(self, step: Step) -> tuple[Step, str]:
        """The step with its retrieved passages, and the same passages as quoted data for a
        model's prompt (`knowledge.passages_as_data`)."""
        policies = self._services.policies
        found = policies.search(step.request, k=POLICY_PASSAGES) if policies is not None else []
        self.note(
            "retrieval", f"{len(found)} policy passages", "; ".join(p.citation for p in found)
        )
        passages = [
            Passage(
                text=p.text,
                title=p.title,
                section=p.section,
                version=p.version,
                doc_id=p.doc_id,
                score=p.score,
            )
            for p in found
        ]
        self.state.evidence.extend(p.text for p in found)
        return step.model_copy(update={"passages": passages}), passages_as_data(found)

    def _propose(self, step: Step, call: ToolCall) -> None:
        try:
            described = confirm.describe(call, self._read)
        except (KeyError, TypeError, ValueError) as exc:
            self.note("tool", "Could not describe the proposed action", str(exc))
            self.say(say("tool_error"))
            return
        summary = described.summary
        if described.needs_approval:
            summary = summary.replace(
                " Shall I go ahead?", " " + say("approval_notice") + " Shall I go ahead?"
            )
        token = f"confirm-{uuid.uuid4().hex}"
        self.convo.pending = PendingAction(
            token=token, call=call, summary=summary, facts=described.facts, step=step
        )
        self.state.evidence += [described.facts, summary]  # worded by code from the records
        self.note("approval", f"Awaiting confirmation: {call.tool}", summary)
        self.say(summary)

    def _read(self, tool: str, **arguments: Any) -> Any:
        if tool == "get_user_details":  # τ²'s signature; the id is the signed-in customer's
            arguments = {"user_id": self.convo.customer_id}
        outcome = gateway.read(
            self._services.engine,
            customer_id=self.convo.customer_id,
            action=tool,
            arguments=arguments,
        )
        if outcome.status != "ok":
            raise ValueError(outcome.error.message if outcome.error else tool)
        self.state.evidence.append(outcome.result)
        return outcome.result

    # --- people -------------------------------------------------------------------------------

    def _handoff(self, request: str) -> None:
        summary = f"Customer asked for a person: {request}"[:2000]
        if self.convo.customer_id:
            outcome = gateway.execute(
                self._services.engine,
                customer_id=self.convo.customer_id,
                action="transfer_to_human_agents",
                arguments={"summary": summary},
                idempotency_key=f"handoff-{uuid.uuid4().hex}",
                actor=f"customer:{self.convo.customer_id}",
                conversation_id=self.convo.conversation_id,
            )
            ticket_record = outcome.result if outcome.status == "ok" else {}
        else:
            ticket_record = _anonymous_handoff(
                self._services.engine, summary, self.convo.conversation_id
            )
        ticket = (ticket_record or {}).get("ticket_id") or (ticket_record or {}).get("id")
        self.convo.handoff_ticket = ticket if isinstance(ticket, int) else None
        ticket = ticket or "opened"
        self.state.handoff = True
        self.note("approval", f"Handoff ticket {ticket}")
        self.say(say("handoff_done", ticket=ticket))

    def report_approvals(self) -> None:
        """Tell the outcome of approvals that staff decided since the last turn."""
        if not self.convo.approvals:
            return
        from shop.approvals import get_approval

        still = []
        for watched in self.convo.approvals:
            approval = get_approval(self._services.engine, watched.approval_id)
            if approval is None or approval.status == "pending":
                still.append(watched)
                continue
            # Staff write notes freely; personal data in one (another customer's email, a card
            # number) is not the customer's to read, and grounding trusts the note as a source.
            staff_note = redaction.redact_text(approval.note or "")
            self.note("approval", f"Approval #{watched.approval_id}: {approval.status}", staff_note)
            self.state.evidence.append(watched.summary)
            if approval.status == "approved":
                self.say(say("approval_approved", summary=watched.summary))
            elif approval.status == "rejected":
                note = f" (note: {staff_note})" if staff_note else ""
                self.state.evidence.append(staff_note)
                self.say(say("approval_rejected", summary=watched.summary, note=note))
            else:
                message = (approval.outcome or {}).get("error", {}).get("message", "")
                self.say(say("approval_failed", summary=watched.summary, message=message))
        self.convo.approvals = still


def _action(summary: str) -> str:
    """What a confirmation question asks to do, without its frame or its approval notice."""
    summary = summary.replace(" " + say("approval_notice"), "")
    return summary.split(". Shall")[0].removeprefix("Just to confirm: ")


def _anonymous_handoff(engine: Engine, summary: str, conversation_id: str) -> dict[str, Any]:
    from shop.db import transaction
    from shop.handoffs import transfer_to_human_agents

    with transaction(engine) as session:
        return transfer_to_human_agents(
            session, summary, customer_id=None, conversation_id=conversation_id
        )


def _order_card(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order.get("order_id"),
        "status": order.get("status"),
        "items": [
            {
                "name": i["name"],
                "options": replies.options_phrase(i.get("options", {})),
                "price": i["price"],
            }
            for i in order.get("items", [])
        ],
        "tracking": [t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])],
    }

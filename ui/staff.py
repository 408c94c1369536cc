"""The staff console at `/staff`: approvals, handoffs, the audit log, the knowledge base, and
the operations dashboard, each a tab. Behind Gradio's login (see `ui.auth`).

Every change goes through its owner: decisions through `shop.gateway.decide` (exactly once,
audited), tickets through `shop.handoffs`, documents through the knowledge base service. The
console adds no rules of its own; it shows, asks, and reports what the owner answered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd
from sqlalchemy import Engine

import tracing
from shop import approvals, audit, gateway, handoffs
from shop.db import transaction
from shop.errors import StoreError
from ui import dashboard, knowledge_tab
from ui.auth import staff_name
from ui.cards import escape
from ui.chat import ChatBackend, history_messages

log = logging.getLogger(__name__)

APPROVAL_COLUMNS = ["id", "requested", "customer", "action", "order", "amount", "conversation"]
HANDOFF_COLUMNS = ["ticket", "opened", "customer", "summary", "conversation"]
AUDIT_COLUMNS = ["id", "at", "actor", "action", "outcome", "detail"]
MAX_NOTE = 1000


@dataclass
class Console:
    """The console's handlers over the store, the assistant and the knowledge base."""

    engine: Engine
    assistant: ChatBackend
    knowledge: Any = None  # knowledge.service.KnowledgeBase (None: tab says it is unavailable)

    # -- conversations -------------------------------------------------------------------------

    def transcript(self, conversation_id: str | None) -> str:
        """A conversation as Markdown, with a link to its traces in Phoenix."""
        if not conversation_id:
            return "_No conversation attached._"
        try:
            messages = history_messages(self.assistant.history(conversation_id))
        except Exception:
            log.exception("could not read conversation %s", conversation_id)
            return f"_Could not read conversation {escape(conversation_id)}._"
        lines = [f"**Conversation** {escape(conversation_id)}"]
        if url := tracing.session_url(conversation_id):
            lines.append(f"[Open its traces in Phoenix]({url})")
        for message in messages:
            who = "Customer" if message["role"] == "user" else "Assistant"
            lines.append(f"**{who}:** {escape(message['content'])}")
        return "\n\n".join(lines)

    # -- approvals -----------------------------------------------------------------------------

    def pending_approvals(self) -> pd.DataFrame:
        rows = [
            [
                item.id,
                item.created_at.strftime("%Y-%m-%d %H:%M"),
                item.customer_id,
                item.action,
                str(item.arguments.get("order_id", "")),
                f"${item.amount:,.2f}",
                item.conversation_id or "",
            ]
            for item in approvals.list_approvals(self.engine, status="pending")
        ]
        return pd.DataFrame(rows, columns=APPROVAL_COLUMNS)

    def approval_detail(self, approval_id: float | None) -> str:
        if not approval_id:
            return "_Pick an approval from the table._"
        item = approvals.get_approval(self.engine, int(approval_id))
        if item is None:
            return f"_No approval #{int(approval_id)}._"
        arguments = json.dumps(item.arguments, indent=2, default=str)
        return "\n\n".join(
            [
                f"### Approval #{item.id}: {escape(item.action)}, ${item.amount:,.2f}",
                f"Status **{item.status}**; requested by {escape(item.requested_by)} for "
                f"customer {escape(item.customer_id)} on {item.created_at:%Y-%m-%d %H:%M}.",
                f"```json\n{arguments}\n```",
                self.transcript(item.conversation_id),
            ]
        )

    def decide(self, approval_id: float | None, approve: bool, note: str, staff: str) -> str:
        """Approve or reject; the gateway executes it exactly once and audits it."""
        if not approval_id:
            return "Pick an approval first."
        note = (note or "").strip()[:MAX_NOTE]
        if not approve and not note:
            return "Please give the customer a reason when rejecting."
        outcome = gateway.decide(
            self.engine, int(approval_id), approve=approve, staff=staff, note=note
        )
        verb = "Approved" if approve else "Rejected"
        if outcome.status == "error" and outcome.error is not None:
            return f"Not done: {outcome.error.message}"
        return f"{verb} #{int(approval_id)}. The customer will see the outcome in their chat."

    # -- handoffs ------------------------------------------------------------------------------

    def open_handoffs(self) -> pd.DataFrame:
        with transaction(self.engine) as session:
            tickets = handoffs.list_handoffs(session, status="open")
        rows = [
            [
                t["ticket_id"],
                t["created_at"][:16].replace("T", " "),
                t["customer_id"] or "(not signed in)",
                t["summary"],
                t["conversation_id"] or "",
            ]
            for t in tickets
        ]
        return pd.DataFrame(rows, columns=HANDOFF_COLUMNS)

    def handoff_detail(self, ticket_id: float | None) -> str:
        if not ticket_id:
            return "_Pick a ticket from the table._"
        with transaction(self.engine) as session:
            found = [t for t in handoffs.list_handoffs(session) if t["ticket_id"] == ticket_id]
        if not found:
            return f"_No ticket #{int(ticket_id)}._"
        ticket = found[0]
        header = f"### Ticket #{ticket['ticket_id']} ({ticket['status']})\n\n"
        return (
            header + f"{escape(ticket['summary'])}\n\n" + self.transcript(ticket["conversation_id"])
        )

    def resolve(self, ticket_id: float | None, resolution: str, staff: str) -> str:
        if not ticket_id:
            return "Pick a ticket first."
        resolution = (resolution or "").strip()[:MAX_NOTE]
        if not resolution:
            return "Please note what you did, for the record."
        try:
            with transaction(self.engine) as session:
                handoffs.resolve_handoff(session, int(ticket_id), resolution)
                audit.record(
                    session,
                    actor=f"staff:{staff}",
                    action="resolve_handoff",
                    arguments={"ticket_id": int(ticket_id)},
                    outcome="ok",
                    detail=resolution,
                )
        except StoreError as error:
            return f"Not done: {error}"
        return f"Ticket #{int(ticket_id)} resolved."

    # -- audit ---------------------------------------------------------------------------------

    def audit_log(self, text: str = "", limit: int = 200) -> pd.DataFrame:
        with transaction(self.engine) as session:
            rows = [
                [e.id, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.outcome, e.detail]
                for e in audit.search(session, (text or "").strip()[:200], limit)
            ]
        return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


def _selected_id(event: gr.SelectData) -> float | None:
    """The first cell of the clicked row (the id column)."""
    row: Sequence[Any] | None = getattr(event, "row_value", None)
    return float(row[0]) if row else None


def _approvals_tab(console: Console) -> None:
    with gr.Tab("Approvals", id="approvals"):
        gr.Markdown("Refunds above the threshold wait here. A decision executes exactly once.")
        table = gr.Dataframe(
            console.pending_approvals, interactive=False, label="Pending", elem_id="approvals"
        )
        refresh = gr.Button("Refresh", size="sm")
        chosen = gr.Number(label="Approval id", precision=0, elem_id="approval-id")
        detail = gr.Markdown()
        note = gr.Textbox(label="Note to the customer (required to reject)", max_length=MAX_NOTE)
        with gr.Row():
            approve = gr.Button("Approve", variant="primary", elem_id="approve")
            reject = gr.Button("Reject", variant="stop", elem_id="reject")
        result = gr.Markdown(elem_id="approval-result")

        refresh.click(console.pending_approvals, None, table, api_name="pending_approvals")
        table.select(_selected_id, None, chosen, api_visibility="private")
        chosen.change(console.approval_detail, chosen, detail, api_name="approval_detail")

        def decide(approval_id, text, request: gr.Request, *, approve_it: bool):
            message = console.decide(approval_id, approve_it, text, staff_name(request))
            return message, console.pending_approvals(), console.approval_detail(approval_id)

        def approve_fn(approval_id, text, request: gr.Request):
            return decide(approval_id, text, request, approve_it=True)

        def reject_fn(approval_id, text, request: gr.Request):
            return decide(approval_id, text, request, approve_it=False)

        outputs = [result, table, detail]
        approve.click(approve_fn, [chosen, note], outputs, api_name="approve", concurrency_limit=1)
        reject.click(reject_fn, [chosen, note], outputs, api_name="reject", concurrency_limit=1)


def _handoffs_tab(console: Console) -> None:
    with gr.Tab("Handoffs", id="handoffs"):
        table = gr.Dataframe(console.open_handoffs, interactive=False, label="Open tickets")
        refresh = gr.Button("Refresh", size="sm")
        chosen = gr.Number(label="Ticket", precision=0)
        detail = gr.Markdown()
        resolution = gr.Textbox(label="What was done", max_length=MAX_NOTE)
        resolve = gr.Button("Mark resolved", variant="primary")
        result = gr.Markdown()

        refresh.click(console.open_handoffs, None, table, api_name="open_handoffs")
        table.select(_selected_id, None, chosen, api_visibility="private")
        chosen.change(console.handoff_detail, chosen, detail, api_name="handoff_detail")

        def resolve_fn(ticket_id, text, request: gr.Request):
            return console.resolve(ticket_id, text, staff_name(request)), console.open_handoffs()

        resolve.click(resolve_fn, [chosen, resolution], [result, table], api_name="resolve")


def _audit_tab(console: Console) -> None:
    with gr.Tab("Audit log", id="audit"):
        query = gr.Textbox(label="Search (actor, action, outcome or detail)", max_length=200)
        table = gr.Dataframe(console.audit_log, interactive=False, wrap=True)
        gr.on(
            [query.submit, query.change],
            console.audit_log,
            query,
            table,
            api_name="audit",
            trigger_mode="always_last",
        )


def build(console: Console) -> gr.Blocks:
    with gr.Blocks(title="Store assistant: staff console", analytics_enabled=False) as blocks:
        gr.Markdown("## Staff console")
        with gr.Tabs():
            _approvals_tab(console)
            _handoffs_tab(console)
            knowledge_tab.build(console.knowledge)
            _audit_tab(console)
            load_dashboard = dashboard.build(console.engine)
        gr.Button("Sign out", size="sm", link="/staff/logout")
        fn, inputs, outputs = load_dashboard
        blocks.load(fn, inputs, outputs, api_visibility="private")
    return blocks

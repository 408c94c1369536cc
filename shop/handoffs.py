"""Handoff tickets: a conversation handed to a human agent, and staff resolving it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shop import customers, faults, orders, validate
from shop.errors import InvalidStatus, NotFound
from shop.models import Customer, Handoff

MAX_CONVERSATION_ID = 100


def transfer_to_human_agents(
    session: Session, summary: str, *, customer_id: str | None, conversation_id: str | None = None
) -> dict[str, Any]:
    """Open a ticket for a human agent with a summary of the customer's issue. The customer may
    still be anonymous (None): asking for a person needs no sign-in."""
    summary = validate.text(summary, "summary", max_length=validate.MAX_SUMMARY)
    if conversation_id is not None:
        validate.text(conversation_id, "conversation_id", max_length=MAX_CONVERSATION_ID)
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound(customers.NOT_FOUND)
    ticket = Handoff(
        customer_id=customer_id,
        conversation_id=conversation_id,
        summary=summary,
        status="open",
        created_at=datetime.now(UTC),
    )
    session.add(ticket)
    session.flush()
    faults.checkpoint("transfer_to_human_agents.ticket")
    return ticket.as_dict() | {"message": "Transfer successful"}


def list_handoffs(
    session: Session, status: Literal["open", "resolved"] | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Tickets, newest first (optionally only open or only resolved ones)."""
    query = select(Handoff).order_by(Handoff.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Handoff.status == status)
    return [ticket.as_dict() for ticket in session.scalars(query)]


def resolve_handoff(session: Session, ticket_id: int, resolution: str) -> dict[str, Any]:
    """Close an open ticket with a note of what staff did."""
    resolution = validate.text(resolution, "resolution", max_length=validate.MAX_SUMMARY)
    ticket = session.scalars(
        orders.locked(select(Handoff).where(Handoff.id == ticket_id))
    ).one_or_none()
    if ticket is None:
        raise NotFound(f"Handoff ticket {ticket_id} was not found.")
    if ticket.status != "open":
        raise InvalidStatus(f"Handoff ticket {ticket_id} is already {ticket.status}.")
    ticket.status, ticket.resolution = "resolved", resolution
    ticket.resolved_at = datetime.now(UTC)
    session.flush()
    return ticket.as_dict()

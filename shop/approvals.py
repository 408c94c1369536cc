"""Pending approvals: writes whose refund exceeds the threshold wait here for a staff decision.

A row is created by the gateway instead of executing the write; `shop.gateway.decide` executes
or discards it exactly once (a conditional UPDATE on `status = 'pending'` settles racing
decisions). This module holds the table and the read side (listing for the staff console, and
per conversation so the flow can tell the customer the outcome).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, DateTime, Engine, Integer, Numeric, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shop.db import Base, transaction

ApprovalStatus = Literal["pending", "approved", "rejected", "failed"]


class PendingApproval(Base):
    __tablename__ = "pending_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), index=True, default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str] = mapped_column(String(2000), default="")
    # The outcome of executing (or rejecting) the action, as returned to the decider.
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Approval(BaseModel):
    """A pending approval as the staff console and the flow see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    arguments: dict[str, Any]
    customer_id: str
    conversation_id: str | None
    amount: Decimal
    requested_by: str
    created_at: datetime
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    note: str
    outcome: dict[str, Any] | None


def create(
    session: Session,
    *,
    action: str,
    arguments: dict[str, Any],
    customer_id: str,
    conversation_id: str | None,
    idempotency_key: str,
    fingerprint: str,
    amount: Decimal,
    requested_by: str,
) -> PendingApproval:
    row = PendingApproval(
        action=action,
        arguments=arguments,
        customer_id=customer_id,
        conversation_id=conversation_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        amount=amount,
        requested_by=requested_by,
        created_at=datetime.now(UTC),
        status="pending",
        note="",
    )
    session.add(row)
    session.flush()
    return row


def pending_twin(session: Session, fingerprint: str) -> PendingApproval | None:
    """An undecided approval for the very same request (a customer confirming twice with two
    tokens waits on one approval, not two)."""
    query = select(PendingApproval).where(
        PendingApproval.fingerprint == fingerprint, PendingApproval.status == "pending"
    )
    return session.scalars(query.limit(1)).first()


def _views(engine: Engine, *conditions: Any) -> list[Approval]:
    query = select(PendingApproval).where(*conditions).order_by(PendingApproval.id)
    with transaction(engine) as session:
        return [Approval.model_validate(row) for row in session.scalars(query)]


def list_approvals(engine: Engine, status: ApprovalStatus | None = None) -> list[Approval]:
    """Every approval, oldest first, or only those with `status`."""
    if status is None:
        return _views(engine)
    return _views(engine, PendingApproval.status == status)


def approvals_for_conversation(engine: Engine, conversation_id: str) -> list[Approval]:
    """The approvals a conversation asked for, oldest first, whatever their status."""
    return _views(engine, PendingApproval.conversation_id == conversation_id)


def get_approval(engine: Engine, approval_id: int) -> Approval | None:
    found = _views(engine, PendingApproval.id == approval_id)
    return found[0] if found else None

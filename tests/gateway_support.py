"""Shared by the gateway, approval, fault, concurrency and tool tests."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import settings
from shop import audit, gateway, operations
from shop.db import transaction
from shop.models import Payment, PaymentMethod
from tests.store_support import OWNER, OWNER_CALLS, PAID_BY_GIFT_CARD

# A valid call of every write, made by OWNER (the cancellation is paid by gift card, so that a
# duplicated refund would show on the card's balance).
WRITE_CALLS: dict[str, dict[str, Any]] = {
    name: arguments for name, arguments in OWNER_CALLS.items() if name in operations.WRITES
} | {
    "cancel_pending_order": {"order_id": PAID_BY_GIFT_CARD, "reason": "no longer needed"},
    "transfer_to_human_agents": {"summary": "The customer wants to talk to a person."},
}


def write(
    engine: Engine,
    action: str,
    arguments: dict[str, Any] | None = None,
    *,
    key: str = "key-1",
    customer_id: str | None = OWNER,
    conversation_id: str | None = "conversation-1",
) -> gateway.Outcome:
    return gateway.execute(
        engine,
        customer_id=customer_id,
        action=action,
        arguments=WRITE_CALLS[action] if arguments is None else arguments,
        idempotency_key=key,
        actor=f"customer:{customer_id}",
        conversation_id=conversation_id,
    )


@contextmanager
def approval_threshold(value: str):
    """Run with `REFUND_APPROVAL_THRESHOLD` set to `value`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REFUND_APPROVAL_THRESHOLD", value)
        settings.get.cache_clear()
        try:
            yield
        finally:
            settings.get.cache_clear()
    settings.get.cache_clear()


def payment_entries(engine: Engine) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(Payment))


def gift_card_balance(engine: Engine, method_id: str) -> Decimal:
    with transaction(engine) as session:
        return session.get(PaymentMethod, method_id).balance


def audit_outcomes(engine: Engine, action: str) -> list[str]:
    """The outcomes the audit log holds for `action`, oldest first."""
    with transaction(engine) as session:
        return [entry.outcome for entry in reversed(audit.search(session, action))]

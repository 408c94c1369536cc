"""Idempotency keys for writes, with Stripe's semantics.

A key is claimed inside the write's own transaction, together with a fingerprint of the request
(customer, action, canonical arguments). Replaying the key with the same request returns the
stored outcome and changes nothing; replaying it with another request is a conflict. Because the
claim commits or rolls back with the write, a crash in the middle leaves no key behind and a
retry with the same key simply runs the write.

Two racers with one key: on SQLite the second waits for the write lock (BEGIN IMMEDIATE) and then
finds the claim; on PostgreSQL the second INSERT blocks on the unique key until the first commits
and then fails with an IntegrityError, which the gateway answers by replaying the stored outcome.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, DateTime, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shop.db import Base

KEY_MAX_LENGTH = 200


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The outcome returned to the first caller (and to every replay), as JSON.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return float(value)  # money is already quantized to cents; JSON has no decimals
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def canonical(value: Any) -> str:
    """One text per meaning: sorted keys, no whitespace. List order is kept on purpose: the
    position of an item id pairs it with its replacement in exchanges and modifications."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types (pydantic models, decimals and tuples converted), keys in
    their original order (a stored result reads like the live one)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_plain))


def fingerprint(customer_id: str | None, action: str, arguments: dict[str, Any]) -> str:
    request = {"customer_id": customer_id, "action": action, "arguments": arguments}
    return hashlib.sha256(canonical(request).encode()).hexdigest()


def find(session: Session, key: str) -> IdempotencyRecord | None:
    """The claim on `key`, locked for the rest of the transaction (PostgreSQL)."""
    query = select(IdempotencyRecord).where(IdempotencyRecord.key == key).with_for_update()
    return session.scalars(query).first()


def claim(
    session: Session, key: str, *, fingerprint: str, customer_id: str | None, action: str
) -> IdempotencyRecord:
    """Claim `key` in the caller's transaction; flushes so that a racing claim fails here."""
    record = IdempotencyRecord(
        key=key,
        fingerprint=fingerprint,
        customer_id=customer_id,
        action=action,
        created_at=datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    return record


def waiting_on(session: Session, fingerprint: str) -> list[IdempotencyRecord]:
    """Every key claimed for the request `fingerprint`, locked (an approval's decision updates
    the outcome they replay)."""
    query = (
        select(IdempotencyRecord)
        .where(IdempotencyRecord.fingerprint == fingerprint)
        .with_for_update()
    )
    return list(session.scalars(query))

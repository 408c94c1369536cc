"""The append-only audit log: who did what, when, with which arguments, and how it ended.

Every write and every staff decision of the project goes through `record`, inside the same
transaction as the change it describes, so the log can never claim a change that rolled back
(a failed attempt is recorded by the caller in a transaction of its own).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, event, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shop.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(
        String(200), index=True
    )  # "customer:<id>", "staff:<name>", "system"
    action: Mapped[str] = mapped_column(String(100), index=True)
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(40))  # "ok", "error", "pending_approval", ...
    detail: Mapped[str] = mapped_column(String(4000), default="")


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(_mapper, _connection, _target) -> None:
    raise PermissionError("the audit log is append-only")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    arguments: dict[str, Any],
    outcome: str,
    detail: str = "",
) -> AuditEntry:
    """Append one entry in the caller's transaction."""
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor=actor[:200],
        action=action[:100],
        arguments=_jsonable(arguments),
        outcome=outcome[:40],
        detail=detail[:4000],
    )
    session.add(entry)
    return entry


def search(session: Session, text: str = "", limit: int = 200) -> list[AuditEntry]:
    """Newest first; `text` matches actor, action, outcome or detail (case-insensitive)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(AuditEntry.actor).like(pattern),
                func.lower(AuditEntry.action).like(pattern),
                func.lower(AuditEntry.outcome).like(pattern),
                func.lower(AuditEntry.detail).like(pattern),
            )
        )
    return list(session.scalars(query))

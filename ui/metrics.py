"""One row per customer turn served by the chat, for the operations dashboard.

What a turn did is read from what the assistant returned (its step notes: guardrail verdicts,
budget trips, approvals, tool results) and from the conversation's persisted usage counters
(model calls and tokens, cumulative: a turn's share is the difference to the previous row of
the same conversation).
Latency is measured around the call. Writing a row never fails a turn: a metrics outage
costs a data point, not a customer's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, DateTime, Engine, Float, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from shop.db import Base, transaction

log = logging.getLogger(__name__)

Outcome = Literal["answered", "confirmation", "approval", "handoff", "refused", "failed"]
# Guardrail notes that report a pass, not a trip.
PASSING_CHECKS = {"Input checks passed", "Customer authenticated"}
REFUSAL_PREFIX = "Message refused: "


class TurnRecord(Base):
    __tablename__ = "ui_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))
    trips: Mapped[list[str]] = mapped_column(JSON)  # guardrail and budget trips, by kind
    failure: Mapped[str | None] = mapped_column(String(60), nullable=True)
    model_calls: Mapped[int] = mapped_column(Integer, default=0)  # this turn's
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    model_calls_total: Mapped[int] = mapped_column(Integer, default=0)  # the conversation's
    tokens_total: Mapped[int] = mapped_column(Integer, default=0)


class TurnFacts(BaseModel):
    """What one turn did, as classified from the assistant's result."""

    outcome: Outcome
    trips: list[str]
    failure: str | None


def _notes(steps: Sequence[Any]) -> list[tuple[str, str, str]]:
    plain = [s.model_dump() if hasattr(s, "model_dump") else dict(s) for s in steps]
    return [(str(s.get("kind")), str(s.get("title", "")), str(s.get("detail", ""))) for s in plain]


def classify(result: Any | None, error: BaseException | None = None) -> TurnFacts:
    """Outcome, trips and failure mode of a turn (`result` None when the call raised)."""
    if result is None:
        return TurnFacts(outcome="failed", trips=[], failure=type(error).__name__)
    notes = _notes(result.steps)
    trips = [
        title.removeprefix(REFUSAL_PREFIX)
        for kind, title, _ in notes
        if kind == "guardrail" and title not in PASSING_CHECKS
    ]
    trips += ["budget" for kind, _, _ in notes if kind == "budget"]
    tool_errors = [detail for kind, _, detail in notes if kind == "tool" and detail != "ok"]
    failure = (
        "budget" if "budget" in trips else (f"tool: {tool_errors[0]}"[:60] if tool_errors else None)
    )
    refused = any(title.startswith(REFUSAL_PREFIX) for _, title, _ in notes)
    if result.handoff:
        outcome: Outcome = "handoff"
    elif any(k == "approval" and t.startswith("Sent for staff approval") for k, t, _ in notes):
        outcome = "approval"
    elif refused or "budget" in trips:
        outcome = "refused"
    elif result.confirmation:
        outcome = "confirmation"
    else:
        outcome = "answered"
    return TurnFacts(outcome=outcome, trips=trips, failure=failure)


class TurnLog:
    """Appends turn rows; the dashboard reads them back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        Base.metadata.create_all(engine, tables=[TurnRecord.__table__])

    def record(
        self,
        conversation_id: str,
        latency_ms: float,
        facts: TurnFacts,
        usage: Any | None = None,
    ) -> None:
        calls = getattr(usage, "model_calls", 0) or 0
        tokens = getattr(usage, "tokens", 0) or 0
        try:
            with transaction(self.engine) as session:
                previous = session.execute(
                    select(TurnRecord.model_calls_total, TurnRecord.tokens_total)
                    .where(TurnRecord.conversation_id == conversation_id)
                    .order_by(TurnRecord.id.desc())
                    .limit(1)
                ).first()
                before_calls, before_tokens = previous or (0, 0)
                session.add(
                    TurnRecord(
                        at=datetime.now(UTC),
                        conversation_id=conversation_id,
                        latency_ms=latency_ms,
                        outcome=facts.outcome,
                        trips=facts.trips,
                        failure=facts.failure,
                        model_calls=max(0, calls - before_calls),
                        tokens=max(0, tokens - before_tokens),
                        model_calls_total=calls,
                        tokens_total=tokens,
                    )
                )
        except Exception:
            log.exception("could not record a turn's metrics")

    def since(self, start: datetime) -> list[TurnRecord]:
        query = select(TurnRecord).where(TurnRecord.at >= start).order_by(TurnRecord.id)
        with transaction(self.engine) as session:
            rows = list(session.scalars(query))
            session.expunge_all()
        return rows

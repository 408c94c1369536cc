"""The one door every write of the product goes through, and the guarantees it keeps.

Whoever calls `execute` (a CrewAI tool, the staff console, the conformance replay, a script):
- one transaction per write: the operation, its idempotency claim, any approval and its audit
  entry commit together or not at all;
- Stripe's idempotency: a key replayed with the same request returns the first outcome and
  changes nothing; with another request it is an `idempotency_conflict`;
- a refund above `rules.refund_approval_threshold()` is not executed but parked as a pending
  approval, which `decide` executes or discards exactly once;
- every attempt, result, error and decision is audited (failures in a transaction of their own,
  after the rollback, so the log never claims a change that did not happen).

Operations are the store's functions registered in `WRITES` / `READS` (τ²-bench tool name ->
function taking `(session, ..., customer_id=)`, raising `StoreError` with a `.kind`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import trace
from pydantic import BaseModel
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shop import approvals, audit, faults, idempotency, operations, rules
from shop.approvals import PendingApproval
from shop.db import transaction
from shop.errors import StoreError

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

CHAIN = {SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.CHAIN.value}
INTERNAL_MESSAGE = "Something went wrong on our side and nothing was changed. Please try again."


class Failure(BaseModel):
    kind: str
    message: str  # safe to show the customer: never a stack trace or another customer's data


class Outcome(BaseModel):
    status: Literal["ok", "pending_approval", "error"]
    action: str
    result: Any = None
    approval_id: int | None = None
    error: Failure | None = None
    replayed: bool = False  # True when an idempotency key returned a stored outcome

    @classmethod
    def failed(cls, action: str, kind: str, message: str) -> Outcome:
        return cls(status="error", action=action, error=Failure(kind=kind, message=message))


class _Request(BaseModel):
    customer_id: str | None
    action: str
    arguments: dict[str, Any]
    key: str
    actor: str
    conversation_id: str | None
    fingerprint: str


class _Refused(Exception):
    """A request the gateway refuses before the store sees it (stored like a store error)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _audit(session: Session, request: _Request, outcome: Outcome, detail: str = "") -> None:
    audit.record(
        session,
        actor=request.actor,
        action=request.action,
        arguments={
            "customer_id": request.customer_id,
            "conversation_id": request.conversation_id,
            "idempotency_key": request.key,
            "arguments": request.arguments,
        },
        outcome=outcome.status if not outcome.replayed else "replayed",
        detail=detail or (outcome.error.kind if outcome.error else ""),
    )


def _apply(session: Session, request: _Request) -> Outcome:
    """Run the operation itself (no gate) inside the caller's transaction."""
    result = operations.WRITES[request.action](
        session,
        request.arguments,
        customer_id=request.customer_id,
        conversation_id=request.conversation_id,
    )
    return Outcome(status="ok", action=request.action, result=idempotency.jsonable(result))


def _gate(session: Session, request: _Request) -> Outcome | None:
    """A pending-approval outcome when the refund is above the threshold, else None."""
    try:
        amount = operations.refund_preview(
            session, request.action, request.arguments, customer_id=request.customer_id
        )
    except StoreError as refused:
        # The preview checks in its own order; the customer must hear the error the operation
        # itself gives (its order of checks is the contract). Both run inside this transaction,
        # which the raise rolls back, so nothing the operation did can stay.
        _apply(session, request)
        raise refused from None
    if Decimal(amount) <= rules.refund_approval_threshold():
        return None
    parked = approvals.pending_twin(session, request.fingerprint) or approvals.create(
        session,
        action=request.action,
        arguments=request.arguments,
        customer_id=request.customer_id,
        conversation_id=request.conversation_id,
        idempotency_key=request.key,
        fingerprint=request.fingerprint,
        amount=Decimal(amount).quantize(rules.CENT),
        requested_by=request.actor,
    )
    return Outcome(
        status="pending_approval",
        action=request.action,
        approval_id=parked.id,
        result={"amount": float(parked.amount)},
    )


def _claim(session: Session, request: _Request) -> idempotency.IdempotencyRecord:
    return idempotency.claim(
        session,
        request.key,
        fingerprint=request.fingerprint,
        customer_id=request.customer_id,
        action=request.action,
    )


def _attempt(session: Session, request: _Request) -> Outcome:
    """The whole write in one transaction: replay, or claim the key, gate, apply, audit."""
    claimed = idempotency.find(session, request.key)
    if claimed is not None:
        if claimed.fingerprint != request.fingerprint:
            outcome = Outcome.failed(
                request.action,
                "idempotency_conflict",
                "This confirmation was already used for a different request.",
            )
        elif claimed.response is None:  # impossible once committed; guards a corrupt row
            outcome = Outcome.failed(request.action, "internal", INTERNAL_MESSAGE)
        else:
            outcome = Outcome.model_validate(claimed.response).model_copy(update={"replayed": True})
        _audit(session, request, outcome)
        return outcome
    record = _claim(session, request)
    faults.checkpoint("gateway.claimed")
    outcome = _gate(session, request) or _apply(session, request)
    faults.checkpoint("gateway.applied")
    record.response = outcome.model_dump(mode="json")
    _audit(session, request, outcome)
    faults.checkpoint("gateway.before_commit")
    return outcome


def _store_failure(engine: Engine, request: _Request, outcome: Outcome, *, keep: bool) -> None:
    """After a rollback: audit the failure and, for a definitive refusal (`keep`), remember it
    under the key so a replay answers the same. A crash is not remembered: retrying completes it."""
    try:
        with transaction(engine) as session:
            if keep and idempotency.find(session, request.key) is None:
                record = _claim(session, request)
                record.response = outcome.model_dump(mode="json")
            _audit(session, request, outcome)
    except Exception:  # the outcome stands even if the log is unreachable; never mask it
        log.exception("could not record the failure of %s", request.action)


def _request(
    customer_id: str | None,
    action: str,
    arguments: Any,
    key: str,
    actor: str,
    conversation_id: str | None,
) -> _Request:
    if action not in operations.WRITES:
        raise _Refused("unknown_action", f"unknown action {action!r}")
    if not isinstance(arguments, dict):
        raise _Refused("invalid_argument", "arguments must be an object")
    if not isinstance(key, str) or not key.strip() or len(key) > idempotency.KEY_MAX_LENGTH:
        raise _Refused("invalid_idempotency_key", "a non-empty key of at most 200 characters")
    try:
        arguments = idempotency.jsonable(arguments)
        fingerprint = idempotency.fingerprint(customer_id, action, arguments)
    except (TypeError, ValueError):
        raise _Refused("invalid_argument", "arguments must be plain JSON values") from None
    return _Request(
        customer_id=customer_id,
        action=action,
        arguments=arguments,
        key=key,
        actor=actor,
        conversation_id=conversation_id,
        fingerprint=fingerprint,
    )


def execute(
    engine: Engine,
    *,
    customer_id: str | None,
    action: str,
    arguments: dict[str, Any],
    idempotency_key: str,
    actor: str,
    conversation_id: str | None = None,
) -> Outcome:
    """Execute one write for `customer_id` (set by code, never by a model), exactly once per key.

    With no customer (None) only a write that needs none runs (asking for a person); any other
    finds nothing, exactly as for a record of someone else.

    Never raises for a refused or failed write: the outcome says `error` with a kind and a
    customer-safe message (`internal` for an unexpected failure, after which nothing changed).
    """
    with tracer.start_as_current_span(f"gateway.{action}", attributes=CHAIN) as span:
        span.set_attribute(SpanAttributes.INPUT_VALUE, _text(arguments))
        try:
            request = _request(
                customer_id, action, arguments, idempotency_key, actor, conversation_id
            )
        except _Refused as refusal:
            outcome = _refuse(engine, refusal, actor, action, customer_id, arguments)
        else:
            outcome = _run(engine, request)
        span.set_attribute(SpanAttributes.OUTPUT_VALUE, outcome.model_dump_json())
        return outcome


def _refuse(
    engine: Engine,
    refusal: _Refused,
    actor: str,
    action: Any,
    customer_id: str | None,
    arguments: Any,
) -> Outcome:
    """Audit a request refused before it became a `_Request` (its fields may be anything)."""
    with transaction(engine) as session:
        audit.record(
            session,
            actor=actor,
            action=str(action)[:100],
            arguments={"customer_id": customer_id, "arguments": repr(arguments)[:2000]},
            outcome="error",
            detail=refusal.kind,
        )
    return Outcome.failed(action, refusal.kind, refusal.message)


def _run(engine: Engine, request: _Request) -> Outcome:
    for _ in range(2):  # the second round replays a key a concurrent writer just committed
        try:
            with transaction(engine) as session:
                return _attempt(session, request)
        except IntegrityError:
            continue
        except StoreError as exc:
            outcome = Outcome.failed(request.action, exc.kind, _message(exc))
            _store_failure(engine, request, outcome, keep=True)
            return outcome
        except Exception as exc:
            trace.get_current_span().record_exception(exc)
            log.exception("write %s failed", request.action)
            outcome = Outcome.failed(request.action, "internal", INTERNAL_MESSAGE)
            _store_failure(engine, request, outcome, keep=False)
            return outcome
    return Outcome.failed(request.action, "internal", INTERNAL_MESSAGE)


def _text(arguments: Any) -> str:
    """`arguments` for a span, whatever a caller passed (it is validated only later)."""
    try:
        return idempotency.canonical(arguments)
    except (TypeError, ValueError):
        return repr(arguments)[:2000]


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def read(
    engine: Engine, *, customer_id: str | None, action: str, arguments: dict[str, Any]
) -> Outcome:
    """Run one read for `customer_id` (None only for identity lookups, which take no customer).

    Another customer's records answer exactly like missing ones: the store's reads filter by the
    customer they are given.
    """
    with tracer.start_as_current_span(f"gateway.{action}", attributes=CHAIN) as span:
        function = operations.READS.get(action)
        if function is None:
            return Outcome.failed(action, "unknown_action", f"unknown action {action!r}")
        if not isinstance(arguments, dict):
            return Outcome.failed(action, "invalid_argument", "arguments must be an object")
        try:
            with transaction(engine) as session:
                result = function(session, arguments, customer_id=customer_id)
                return Outcome(status="ok", action=action, result=idempotency.jsonable(result))
        except StoreError as exc:
            return Outcome.failed(action, exc.kind, _message(exc))
        except Exception as exc:
            span.record_exception(exc)
            log.exception("read %s failed", action)
            return Outcome.failed(action, "internal", INTERNAL_MESSAGE)


def decide(engine: Engine, approval_id: int, *, approve: bool, staff: str, note: str) -> Outcome:
    """Execute (approve) or discard (reject) a pending approval, exactly once.

    A second decision, or a decision on an unknown id, is an error. If executing fails for a
    business reason (the order changed meanwhile), the approval is recorded as `failed`; after an
    unexpected crash it stays pending, so the decision can simply be taken again.
    """
    actor = f"staff:{staff}"
    with tracer.start_as_current_span("gateway.decide", attributes=CHAIN) as span:
        try:
            with transaction(engine) as session:
                return _decide(session, approval_id, approve, actor, note)
        except StoreError as exc:
            outcome = Outcome.failed("decide", exc.kind, _message(exc))
            return _settle_failed(engine, approval_id, actor, note, outcome)
        except Exception as exc:
            span.record_exception(exc)
            log.exception("decision on approval %s failed", approval_id)
            outcome = Outcome.failed("decide", "internal", INTERNAL_MESSAGE)
            _audit_decision_failure(engine, approval_id, actor, note, outcome)
            return outcome


def _claim_decision(
    session: Session, approval_id: int, status: str, actor: str, note: str
) -> PendingApproval | None:
    """Move the approval out of `pending`, or None if someone else already did (or no such id).

    The WHERE on status is the guard: on PostgreSQL a racing UPDATE waits for the row lock, then
    re-evaluates it and matches nothing."""
    claimed = session.execute(
        update(PendingApproval)
        .where(PendingApproval.id == approval_id, PendingApproval.status == "pending")
        .values(status=status, decided_by=actor, decided_at=datetime.now(UTC), note=note[:2000])
        .execution_options(synchronize_session=False)
    ).rowcount
    return session.get(PendingApproval, approval_id) if claimed == 1 else None


def _decide(session: Session, approval_id: int, approve: bool, actor: str, note: str) -> Outcome:
    status = "approved" if approve else "rejected"
    row = _claim_decision(session, approval_id, status, actor, note)
    if row is None:
        outcome = Outcome.failed(
            "decide", "not_pending", f"approval {approval_id} does not exist or was decided"
        )
        audit.record(
            session,
            actor=actor,
            action="decide",
            arguments={"approval_id": approval_id, "approve": approve, "note": note},
            outcome="error",
            detail="not_pending",
        )
        return outcome
    request = _Request(
        customer_id=row.customer_id,
        action=row.action,
        arguments=row.arguments,
        key=row.idempotency_key,
        actor=actor,
        conversation_id=row.conversation_id,
        fingerprint=row.fingerprint,
    )
    faults.checkpoint("decide.claimed")
    if approve:
        outcome = _apply(session, request).model_copy(update={"approval_id": row.id})
    else:
        outcome = Outcome.failed(
            row.action, "approval_rejected", "A staff member declined this request."
        ).model_copy(update={"approval_id": row.id})
    row.outcome = outcome.model_dump(mode="json")
    _remember(session, row, outcome)
    _audit_decision(session, row, approve, actor, note, outcome)
    faults.checkpoint("decide.before_commit")
    return outcome


def _remember(session: Session, row: PendingApproval, outcome: Outcome) -> None:
    """A replay of any key that waited on this approval now tells the decision, not 'pending'
    (the same request confirmed twice waits on one approval under two keys)."""
    for record in idempotency.waiting_on(session, row.fingerprint):
        if (record.response or {}).get("approval_id") == row.id:
            record.response = outcome.model_dump(mode="json")


def _audit_decision(
    session: Session, row: PendingApproval, approve: bool, actor: str, note: str, outcome: Outcome
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"decide:{row.action}",
        arguments={
            "approval_id": row.id,
            "approve": approve,
            "note": note,
            "customer_id": row.customer_id,
            "arguments": row.arguments,
        },
        outcome=outcome.status,
        detail=outcome.error.kind if outcome.error else "",
    )


def _settle_failed(
    engine: Engine, approval_id: int, actor: str, note: str, outcome: Outcome
) -> Outcome:
    """The approved action failed for a business reason: record the approval as failed."""
    with transaction(engine) as session:
        row = _claim_decision(session, approval_id, "failed", actor, note)
        if row is None:  # decided by someone else between our rollback and now
            return Outcome.failed("decide", "not_pending", f"approval {approval_id} was decided")
        outcome = outcome.model_copy(update={"action": row.action, "approval_id": row.id})
        row.outcome = outcome.model_dump(mode="json")
        _remember(session, row, outcome)
        _audit_decision(session, row, True, actor, note, outcome)
        return outcome


def _audit_decision_failure(
    engine: Engine, approval_id: int, actor: str, note: str, outcome: Outcome
) -> None:
    try:
        with transaction(engine) as session:
            audit.record(
                session,
                actor=actor,
                action="decide",
                arguments={"approval_id": approval_id, "note": note},
                outcome="error",
                detail="internal",
            )
    except Exception:
        log.exception("could not record the failed decision on approval %s", approval_id)

"""Refunds above the threshold wait for a staff decision, executed or discarded exactly once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from shop import approvals, audit, faults, gateway
from shop.db import transaction
from shop.operations import refund_preview
from tests.gateway_support import WRITE_CALLS, approval_threshold, payment_entries, write
from tests.store_support import DELIVERED, OWNER, owner_records

RETURN = WRITE_CALLS["return_delivered_order_items"]


@pytest.fixture
def price(store) -> Decimal:
    """What returning the item of RETURN refunds."""
    with transaction(store) as session:
        return refund_preview(session, "return_delivered_order_items", RETURN, customer_id=OWNER)


@pytest.fixture
def gated(price):
    """A threshold one cent below the refund: the return needs a decision."""
    with approval_threshold(str(price - Decimal("0.01"))):
        yield


def decide(store, approval_id, approve=True, staff="alice"):
    return gateway.decide(store, approval_id, approve=approve, staff=staff, note="checked")


def test_a_refund_at_the_threshold_executes_at_once(store, price):
    with approval_threshold(str(price)):
        outcome = write(store, "return_delivered_order_items")

    assert outcome.status == "ok"
    assert approvals.list_approvals(store) == []


def test_a_refund_above_the_threshold_waits_and_changes_nothing(store, gated, price):
    before = owner_records(store)

    outcome = write(store, "return_delivered_order_items", conversation_id="c-7")

    assert outcome.status == "pending_approval" and outcome.approval_id is not None
    assert owner_records(store) == before
    (approval,) = approvals.list_approvals(store, status="pending")
    assert approval.id == outcome.approval_id
    assert (approval.action, approval.arguments) == ("return_delivered_order_items", RETURN)
    assert approval.amount == price and approval.conversation_id == "c-7"
    assert approvals.approvals_for_conversation(store, "c-7") == [approval]
    assert approvals.approvals_for_conversation(store, "c-other") == []


def test_approval_executes_exactly_once(store, gated):
    parked = write(store, "return_delivered_order_items")

    approved = decide(store, parked.approval_id)
    after = owner_records(store)
    second = decide(store, parked.approval_id)
    replay = write(store, "return_delivered_order_items")

    assert approved.status == "ok" and approved.result["status"] == "return requested"
    assert second.error.kind == "not_pending"
    assert owner_records(store) == after
    assert replay.replayed and replay.status == "ok" and replay.result == approved.result
    (approval,) = approvals.list_approvals(store)
    assert (approval.status, approval.decided_by, approval.note) == (
        "approved",
        "staff:alice",
        "checked",
    )


def test_one_request_confirmed_twice_waits_on_one_approval_and_both_keys_learn_the_decision(
    store, gated
):
    first = write(store, "return_delivered_order_items", key="token-a")
    second = write(store, "return_delivered_order_items", key="token-b")

    decided = decide(store, first.approval_id)

    assert second.approval_id == first.approval_id
    assert len(approvals.list_approvals(store)) == 1
    for key in ("token-a", "token-b"):
        replay = write(store, "return_delivered_order_items", key=key)
        assert replay.replayed and replay.status == "ok" and replay.result == decided.result


def test_rejection_discards_the_action(store, gated):
    before = owner_records(store)
    parked = write(store, "return_delivered_order_items")

    rejected = decide(store, parked.approval_id, approve=False)
    replay = write(store, "return_delivered_order_items")

    assert rejected.error.kind == "approval_rejected"
    assert owner_records(store) == before
    assert replay.replayed and replay.error.kind == "approval_rejected"
    assert approvals.get_approval(store, parked.approval_id).status == "rejected"
    assert decide(store, parked.approval_id).error.kind == "not_pending"


def test_an_approved_action_that_no_longer_applies_is_recorded_as_failed(store, gated):
    first = write(store, "return_delivered_order_items", key="a")
    second = write(store, "return_delivered_order_items", key="b")
    # The same request confirmed twice (two tokens) waits on one approval, not two.
    assert second.approval_id == first.approval_id
    # Make the parked return impossible: the order is returned by another path first.
    with approval_threshold("1000000"):
        assert write(store, "return_delivered_order_items", key="d").status == "ok"
    after = owner_records(store)

    outcome = decide(store, first.approval_id)

    assert outcome.error.kind == "invalid_status"
    assert owner_records(store) == after
    approval = approvals.get_approval(store, first.approval_id)
    assert approval.status == "failed" and approval.outcome["error"]["kind"] == "invalid_status"


def test_unknown_approval_is_an_error(store):
    assert decide(store, 999_999).error.kind == "not_pending"


def test_racing_decisions_execute_once(store, gated):
    parked = write(store, "return_delivered_order_items")
    entries = payment_entries(store)
    start = threading.Barrier(4)
    outcomes: list[gateway.Outcome] = []

    def staff(name: str) -> None:
        start.wait()
        outcomes.append(decide(store, parked.approval_id, staff=name))

    threads = [threading.Thread(target=staff, args=(f"s{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(o.status for o in outcomes) == ["error", "error", "error", "ok"]
    assert payment_entries(store) == entries
    assert owner_records(store)["orders"][DELIVERED]["status"] == "return requested"


def test_a_crash_while_deciding_leaves_the_approval_pending(store, gated):
    parked = write(store, "return_delivered_order_items")
    before = owner_records(store)

    def crash(name: str) -> None:
        if name == "decide.before_commit":
            raise RuntimeError("power cut")

    with faults.inject(crash):
        crashed = decide(store, parked.approval_id)

    assert crashed.error.kind == "internal"
    assert owner_records(store) == before
    assert approvals.get_approval(store, parked.approval_id).status == "pending"
    assert decide(store, parked.approval_id).status == "ok"


def test_decisions_are_audited(store, gated):
    parked = write(store, "return_delivered_order_items")
    decide(store, parked.approval_id, staff="bob")

    with transaction(store) as session:
        entries = audit.search(session, "decide:")
    assert [(e.actor, e.outcome) for e in entries] == [("staff:bob", "ok")]
    assert entries[0].arguments["approval_id"] == parked.approval_id
    assert entries[0].arguments["note"] == "checked"


@pytest.mark.parametrize("reason", ["because I said so", "", "NO LONGER NEEDED!"])
def test_a_refused_cancel_reason_is_refused_not_parked_for_staff(store, reason):
    arguments = {**WRITE_CALLS["cancel_pending_order"], "reason": reason}
    before = owner_records(store)

    with approval_threshold("0.00"):  # any refund would need a decision
        outcome = write(store, "cancel_pending_order", arguments)

    assert outcome.status == "error" and outcome.error.kind == "invalid_argument"
    assert approvals.list_approvals(store) == []
    assert owner_records(store) == before

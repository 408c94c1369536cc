"""The gateway's idempotency (Stripe's semantics), refusals and audit, on the seeded store."""

from __future__ import annotations

import pytest

from shop import audit, faults, gateway
from shop.db import transaction
from shop.idempotency import IdempotencyRecord
from tests.gateway_support import WRITE_CALLS, audit_outcomes, payment_entries, write
from tests.store_support import DELIVERED, INTRUDER, OWNER, PENDING, owner_records

RETURN = WRITE_CALLS["return_delivered_order_items"]


def test_same_key_and_request_returns_the_first_outcome_without_a_second_effect(store):
    first = write(store, "return_delivered_order_items")
    after_first, entries = owner_records(store), payment_entries(store)

    again = write(store, "return_delivered_order_items")

    assert first.status == "ok" and not first.replayed
    assert first.result["status"] == "return requested"
    assert again.replayed and again.result == first.result
    assert owner_records(store) == after_first and payment_entries(store) == entries
    assert audit_outcomes(store, "return_delivered_order_items") == ["ok", "replayed"]


@pytest.mark.parametrize(
    ("case", "action", "arguments", "customer"),
    [
        ("other items", "return_delivered_order_items", RETURN | {"item_ids": ["1"]}, OWNER),
        ("other action", "cancel_pending_order", WRITE_CALLS["cancel_pending_order"], OWNER),
        ("other customer", "return_delivered_order_items", RETURN, INTRUDER),
    ],
)
def test_same_key_with_another_request_is_a_conflict(store, case, action, arguments, customer):
    write(store, "return_delivered_order_items")
    before = owner_records(store)

    outcome = write(store, action, arguments, customer_id=customer)

    assert outcome.error.kind == "idempotency_conflict", case
    assert owner_records(store) == before


def test_a_refusal_of_the_store_is_remembered_under_its_key(store):
    pending_return = RETURN | {"order_id": PENDING, "item_ids": ["6690069155"]}

    first = write(store, "return_delivered_order_items", pending_return)
    again = write(store, "return_delivered_order_items", pending_return)

    assert first.error.kind == "invalid_status"
    assert again.replayed and again.error == first.error
    assert audit_outcomes(store, "return_delivered_order_items") == ["error", "replayed"]


def test_a_crash_is_not_remembered_so_a_retry_completes_it(store):
    before = owner_records(store)

    def crash(name: str) -> None:
        if name == "return_delivered_order_items.items":
            raise RuntimeError("disk on fire")

    with faults.inject(crash):
        crashed = write(store, "return_delivered_order_items")

    assert crashed.error.kind == "internal" and "disk" not in crashed.error.message
    assert owner_records(store) == before
    with transaction(store) as session:
        assert session.get(IdempotencyRecord, "key-1") is None
    retried = write(store, "return_delivered_order_items")
    assert retried.status == "ok" and not retried.replayed
    assert audit_outcomes(store, "return_delivered_order_items") == ["error", "ok"]


# (case, action, arguments, key, customer, error kind)
REFUSED = [
    ("unknown action", "drop_all_orders", {}, "k", OWNER, "unknown_action"),
    (
        "a read is not a write",
        "get_order_details",
        {"order_id": DELIVERED},
        "k",
        OWNER,
        "unknown_action",
    ),
    (
        "arguments not an object",
        "return_delivered_order_items",
        ["#W1"],
        "k",
        OWNER,
        "invalid_argument",
    ),
    (
        "arguments not JSON",
        "return_delivered_order_items",
        RETURN | {"x": object()},
        "k",
        OWNER,
        "invalid_argument",
    ),
    (
        "customer smuggled in",
        "return_delivered_order_items",
        RETURN | {"customer_id": INTRUDER},
        "k",
        OWNER,
        "invalid_argument",
    ),
    (
        "unknown argument",
        "return_delivered_order_items",
        RETURN | {"refund": 10**9},
        "k",
        OWNER,
        "invalid_argument",
    ),
    (
        "missing argument",
        "return_delivered_order_items",
        {"order_id": DELIVERED},
        "k",
        OWNER,
        "invalid_argument",
    ),
    ("empty key", "return_delivered_order_items", RETURN, "  ", OWNER, "invalid_idempotency_key"),
    (
        "key too long",
        "return_delivered_order_items",
        RETURN,
        "k" * 201,
        OWNER,
        "invalid_idempotency_key",
    ),
    ("no customer", "return_delivered_order_items", RETURN, "k", None, "not_found"),
    (
        "another customer's order",
        "return_delivered_order_items",
        RETURN,
        "k",
        INTRUDER,
        "not_found",
    ),
]


@pytest.mark.parametrize(
    ("case", "action", "arguments", "key", "customer", "kind"),
    REFUSED,
    ids=[row[0] for row in REFUSED],
)
def test_refused_writes_change_nothing_and_are_audited(
    store, case, action, arguments, key, customer, kind
):
    before = owner_records(store)

    outcome = write(store, action, arguments, key=key, customer_id=customer)

    assert outcome.status == "error" and outcome.error.kind == kind, case
    assert outcome.error.message
    assert owner_records(store) == before
    assert audit_outcomes(store, action) == ["error"]


def test_an_order_of_another_customer_answers_like_a_missing_one(store):
    forged = write(store, "return_delivered_order_items", customer_id=INTRUDER, key="a")
    missing = write(
        store, "return_delivered_order_items", RETURN | {"order_id": "#W0000001"}, key="b"
    )

    assert forged.error.kind == missing.error.kind == "not_found"
    assert forged.error.message.replace(DELIVERED, "#W0000001") == missing.error.message


def test_the_audit_names_who_what_and_with_which_arguments(store):
    write(store, "return_delivered_order_items", conversation_id="c-42")

    with transaction(store) as session:
        (entry,) = audit.search(session, "return_delivered_order_items")
    assert entry.actor == f"customer:{OWNER}"
    assert entry.arguments["arguments"] == RETURN
    assert entry.arguments["conversation_id"] == "c-42"
    assert entry.arguments["idempotency_key"] == "key-1"
    assert entry.at is not None and entry.outcome == "ok"


def test_reads_answer_for_the_given_customer_only(store):
    own = gateway.read(
        store, customer_id=OWNER, action="get_order_details", arguments={"order_id": DELIVERED}
    )
    forged = gateway.read(
        store, customer_id=INTRUDER, action="get_order_details", arguments={"order_id": DELIVERED}
    )

    assert own.status == "ok" and own.result["order_id"] == DELIVERED
    assert forged.error.kind == "not_found"

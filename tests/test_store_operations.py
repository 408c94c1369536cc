"""What the store does right where τ²-bench's reference does not, and what conformance does not
cover: refunds counted once, each item its own variant, all-or-nothing writes, previews,
handoffs, identity and catalogue reads."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from shop import faults, handoffs, seed
from shop.db import transaction
from shop.errors import InvalidStatus, NotFound
from shop.models import Order
from shop.operations import WRITES, refund_preview
from tests.store_support import (
    CARD,
    DELIVERED,
    GIFT_CARD,
    OWNER,
    OWNER_CALLS,
    PAID_BY_GIFT_CARD,
    PENDING,
    call,
    fresh_store,
    owner_records,
)


def _balance(engine) -> Decimal:
    balance = owner_records(engine)["users"][OWNER]["payment_methods"][GIFT_CARD]["balance"]
    return Decimal(str(balance))


def test_cancel_after_a_payment_change_refunds_each_method_once(tmp_path):
    engine = fresh_store(tmp_path)
    before = _balance(engine)
    changed = call(
        engine,
        "modify_pending_order_payment",
        {"order_id": PAID_BY_GIFT_CARD, "payment_method_id": CARD},
        OWNER,
    )
    amount = changed["payment_history"][0]["amount"]
    assert _balance(engine) == before + amount  # the gift card got its money back at once

    cancelled = call(
        engine,
        "cancel_pending_order",
        {"order_id": PAID_BY_GIFT_CARD, "reason": "ordered by mistake"},
        OWNER,
    )

    assert [
        (p["transaction_type"], p["payment_method_id"]) for p in cancelled["payment_history"]
    ] == [
        ("payment", GIFT_CARD),
        ("payment", CARD),
        ("refund", GIFT_CARD),
        ("refund", CARD),
    ]
    assert cancelled["payment_history"][-1]["amount"] == amount
    assert _balance(engine) == before + amount  # not credited a second time


def test_each_modified_item_takes_its_own_new_variant(tmp_path):
    engine = fresh_store(tmp_path)
    order = call(
        engine,
        "modify_pending_order_items",
        {
            "order_id": PENDING,
            "item_ids": ["6690069155", "9132333852"],
            "new_item_ids": ["9956648681", "4064702754"],
            "payment_method_id": CARD,
        },
        OWNER,
    )
    lines = {item["item_id"]: item["price"] for item in order["items"]}
    assert lines["9956648681"] == Decimal("452.62")
    assert lines["4064702754"] == Decimal("159.78")
    difference = Decimal("452.62") - Decimal("466.47") + Decimal("159.78") - Decimal("139.47")
    assert order["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": difference,
        "payment_method_id": CARD,
    }
    assert order["status"] == "pending (item modified)"


class Interrupted(Exception):
    """Raised by a fault test at a checkpoint inside a write."""


WRITE_CALLS = sorted(name for name in OWNER_CALLS if name in WRITES)


@pytest.mark.parametrize("name", WRITE_CALLS)
def test_a_write_interrupted_at_any_step_leaves_no_trace(name, tmp_path):
    steps: list[str] = []
    with faults.inject(steps.append):
        expected = call(fresh_store(tmp_path / "rehearsal"), name, OWNER_CALLS[name], OWNER)
    assert len(steps) >= 2, steps
    engine = fresh_store(tmp_path / "faults")
    before = owner_records(engine)

    for step in steps:

        def fail(at: str, step: str = step) -> None:
            if at == step:
                raise Interrupted(at)

        with faults.inject(fail), pytest.raises(Interrupted):
            call(engine, name, OWNER_CALLS[name], OWNER)
        assert owner_records(engine) == before, f"partial state after a fault at {step}"

    assert call(engine, name, OWNER_CALLS[name], OWNER) == expected


@pytest.mark.parametrize(
    ("name", "arguments", "refund"),
    [
        ("cancel_pending_order", OWNER_CALLS["cancel_pending_order"], "1077.71"),
        ("return_delivered_order_items", OWNER_CALLS["return_delivered_order_items"], "209.91"),
        ("exchange_delivered_order_items", OWNER_CALLS["exchange_delivered_order_items"], "12.58"),
        ("modify_pending_order_items", OWNER_CALLS["modify_pending_order_items"], "13.85"),
        (
            "modify_pending_order_items",
            OWNER_CALLS["modify_pending_order_items"] | {"new_item_ids": ["8759627937"]},
            "0.00",
        ),
        ("modify_pending_order_address", OWNER_CALLS["modify_pending_order_address"], "0.00"),
        ("modify_pending_order_payment", OWNER_CALLS["modify_pending_order_payment"], "0.00"),
        # a request the write would refuse previews nothing (the write gives the error)
        ("cancel_pending_order", {"order_id": DELIVERED, "reason": "no longer needed"}, "0.00"),
    ],
)
def test_refund_preview(name, arguments, refund, tmp_path):
    engine = fresh_store(tmp_path)
    before = owner_records(engine)
    with transaction(engine) as session:
        assert refund_preview(session, name, arguments, customer_id=OWNER) == Decimal(refund)
    assert owner_records(engine) == before


def test_handoff_ticket_is_opened_listed_and_resolved_once(tmp_path):
    engine = fresh_store(tmp_path)
    ticket = call(engine, "transfer_to_human_agents", {"summary": "Wants a person"}, OWNER)
    assert ticket["status"] == "open" and ticket["customer_id"] == OWNER
    with transaction(engine) as session:
        assert [t["ticket_id"] for t in handoffs.list_handoffs(session, "open")] == [
            ticket["ticket_id"]
        ]
        resolved = handoffs.resolve_handoff(session, ticket["ticket_id"], "Called back")
    assert resolved["status"] == "resolved"
    with transaction(engine) as session, pytest.raises(InvalidStatus):
        handoffs.resolve_handoff(session, ticket["ticket_id"], "again")


def test_anonymous_visitors_may_ask_for_a_person_unknown_customers_may_not(tmp_path):
    engine = fresh_store(tmp_path)
    assert (
        call(engine, "transfer_to_human_agents", {"summary": "Help"}, None)["customer_id"] is None
    )
    with pytest.raises(NotFound):
        call(engine, "transfer_to_human_agents", {"summary": "Help"}, "nobody_atall_0001")


EMAIL = seed.read()["users"][OWNER]["email"]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("find_user_id_by_email", {"email": EMAIL.upper()}),
        ("find_user_id_by_name_zip", {"first_name": "EMMA", "last_name": "santos", "zip": "78228"}),
    ],
)
def test_identity_lookups_ignore_case(name, arguments, tmp_path):
    assert call(fresh_store(tmp_path), name, arguments, None) == OWNER


def test_list_orders_sums_each_order(tmp_path):
    engine = fresh_store(tmp_path)
    summaries = {s["order_id"]: s for s in call(engine, "list_orders", {}, OWNER)}
    assert summaries[PENDING]["total"] == Decimal("1077.71")
    assert set(summaries) == set(owner_records(engine)["users"][OWNER]["orders"])


def test_search_variants_filters_by_options_availability_and_price(tmp_path):
    engine = fresh_store(tmp_path)
    found = call(
        engine,
        "search_variants",
        {"product_type": "t-shirt", "options": {"Color": "BLUE"}, "price_max": "53.00"},
        None,
    )
    assert found and all(v["options"]["color"] == "blue" for v in found)
    assert all(v["available"] and v["price"] <= Decimal("53.00") for v in found)
    everything = call(
        engine, "search_variants", {"product_type": "T-Shirt", "available_only": False}, None
    )
    assert len(everything) > len(call(engine, "search_variants", {"product_type": "T-Shirt"}, None))


def test_a_write_rereads_what_its_session_read_before_taking_the_lock(tmp_path):
    """On PostgreSQL a refund preview may read an order that another transaction then changes;
    the write, once it holds the row lock, must act on the new state (no second refund)."""
    engine = fresh_store(tmp_path)
    cancel = OWNER_CALLS["cancel_pending_order"]
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            refund_preview(session, "cancel_pending_order", cancel, customer_id=OWNER)
            seen = session.get(Order, PENDING)  # held, so the session keeps what it read
            assert seen is not None and len(seen.payments) == 1
        call(engine, "cancel_pending_order", cancel, OWNER)  # meanwhile, elsewhere
        with session.begin(), pytest.raises(InvalidStatus):
            WRITES["cancel_pending_order"](session, cancel, customer_id=OWNER)
    assert len(owner_records(engine)["orders"][PENDING]["payment_history"]) == 2

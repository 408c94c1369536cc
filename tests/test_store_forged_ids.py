"""Authorisation by context: another customer's order or profile answers exactly like one that
does not exist, and nothing changes."""

from __future__ import annotations

import pytest

from shop.errors import NotFound
from tests.store_support import (
    INTRUDER,
    OWNER,
    OWNER_CALLS,
    call,
    fresh_store,
    owner_records,
)

# A well-formed id of the same kind that exists nowhere, per argument holding the target.
NOWHERE = {"order_id": "#W0000001", "user_id": "nobody_atall_0001"}


def _target(arguments: dict) -> str:
    return "order_id" if "order_id" in arguments else "user_id"


@pytest.mark.parametrize("name", sorted(OWNER_CALLS))
def test_intruder_gets_the_answer_for_a_nonexistent_record(name, tmp_path):
    engine = fresh_store(tmp_path)
    arguments = OWNER_CALLS[name]
    before = owner_records(engine)

    with pytest.raises(NotFound) as forged:
        call(engine, name, arguments, INTRUDER)
    unknown_arguments = arguments | {_target(arguments): NOWHERE[_target(arguments)]}
    with pytest.raises(NotFound) as unknown:
        call(engine, name, unknown_arguments, INTRUDER)

    assert forged.value.message == unknown.value.message
    assert owner_records(engine) == before


@pytest.mark.parametrize("name", sorted(OWNER_CALLS))
def test_the_same_call_succeeds_for_the_owner(name, tmp_path):
    """The refusal above is about who asks, not about the call."""
    engine = fresh_store(tmp_path)
    call(engine, name, OWNER_CALLS[name], OWNER)


@pytest.mark.parametrize("customer_id", [None, "", 42])
def test_no_signed_in_customer_is_refused(customer_id, tmp_path):
    engine = fresh_store(tmp_path)
    with pytest.raises(NotFound):
        call(engine, "get_order_details", OWNER_CALLS["get_order_details"], customer_id)


@pytest.mark.parametrize("name", ["cancel_pending_order", "return_delivered_order_items"])
def test_refund_preview_of_someone_elses_order_reveals_nothing(name, tmp_path):
    from shop.db import transaction
    from shop.operations import refund_preview

    engine = fresh_store(tmp_path)
    with transaction(engine) as session:
        owner = refund_preview(session, name, OWNER_CALLS[name], customer_id=OWNER)
        intruder = refund_preview(session, name, OWNER_CALLS[name], customer_id=INTRUDER)
    assert (owner > 0, intruder) == (True, 0)

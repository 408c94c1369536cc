"""Bad input: each malformed request gets a specific error of the right kind, and the store is
left exactly as it was."""

# ruff: noqa: E501  (the table below reads best with one case per line)

from __future__ import annotations

import pytest

from shop.errors import StoreError
from tests.store_support import (
    ADDRESS,
    CARD,
    DELIVERED,
    OWNER,
    OWNER_CALLS,
    PENDING,
    call,
    fresh_store,
    owner_records,
)

ITEMS = OWNER_CALLS["modify_pending_order_items"]
EXCHANGE = OWNER_CALLS["exchange_delivered_order_items"]
RETURN = OWNER_CALLS["return_delivered_order_items"]
CANCEL = OWNER_CALLS["cancel_pending_order"]
ORDER_ADDRESS = OWNER_CALLS["modify_pending_order_address"]
USER_ADDRESS = OWNER_CALLS["modify_user_address"]
SEARCH = {"product_type": "T-Shirt"}

# (case, operation, arguments, error kind, a fragment of the message)
BAD = [
    # ids: wrong type, too long, malformed, unknown
    ("order id not text", "cancel_pending_order", CANCEL | {"order_id": 2378156}, "invalid_argument", "must be text"),
    ("order id too long", "cancel_pending_order", CANCEL | {"order_id": "#W" + "1" * 5000}, "invalid_argument", "too long"),
    ("order id without #", "cancel_pending_order", CANCEL | {"order_id": "W1620235"}, "not_found", "look like #W1234567"),
    ("order id SQL", "get_order_details", {"order_id": "#W1' OR '1'='1"}, "not_found", "look like #W1234567"),
    ("order id unknown", "cancel_pending_order", CANCEL | {"order_id": "#W0000001"}, "not_found", "could not find that order"),
    ("payment method malformed", "return_delivered_order_items", RETURN | {"payment_method_id": "card; DROP TABLE orders"}, "not_found", "ids look like"),
    ("payment method of nobody", "return_delivered_order_items", RETURN | {"payment_method_id": "paypal_0000000"}, "not_found", "not on your profile"),
    ("user id malformed", "get_user_details", {"user_id": "<script>alert(1)</script>"}, "not_found", "look like jane_doe_1234"),
    # item lists: type, empty, too many, malformed, not in the order, duplicated beyond the order
    ("item ids not a list", "return_delivered_order_items", RETURN | {"item_ids": "2206116040"}, "invalid_argument", "must be a list"),
    ("item ids empty", "return_delivered_order_items", RETURN | {"item_ids": []}, "invalid_argument", "at least one item"),
    ("item ids too many", "return_delivered_order_items", RETURN | {"item_ids": ["2206116040"] * 51}, "invalid_argument", "at most 50"),
    ("item id not text", "return_delivered_order_items", RETURN | {"item_ids": [2206116040]}, "invalid_argument", "must be text"),
    ("item id malformed", "return_delivered_order_items", RETURN | {"item_ids": ["22061"]}, "not_found", "10 digits"),
    ("item not in order", "return_delivered_order_items", RETURN | {"item_ids": ["9956648681"]}, "not_found", "is not in order"),
    ("item duplicated", "return_delivered_order_items", RETURN | {"item_ids": ["2206116040", "2206116040"]}, "not_found", "has 1 of item"),
    ("lists of different length", "exchange_delivered_order_items", EXCHANGE | {"new_item_ids": []}, "invalid_argument", "pair up"),
    ("same item as replacement", "modify_pending_order_items", ITEMS | {"new_item_ids": ["6690069155"]}, "invalid_argument", "different option"),
    ("replacement of another product", "modify_pending_order_items", ITEMS | {"new_item_ids": ["3358616356"]}, "not_found", "not an option of the Luggage Set"),
    ("replacement unavailable", "exchange_delivered_order_items", EXCHANGE | {"new_item_ids": ["7907773809"]}, "unavailable", "not available"),
    # rules
    ("reason not allowed", "cancel_pending_order", CANCEL | {"reason": "changed my mind"}, "invalid_argument", "no longer needed"),
    ("reason not text", "cancel_pending_order", CANCEL | {"reason": None}, "invalid_argument", "must be text"),
    ("cancel a delivered order", "cancel_pending_order", CANCEL | {"order_id": DELIVERED}, "invalid_status", "only pending orders"),
    ("return a pending order", "return_delivered_order_items", RETURN | {"order_id": PENDING, "item_ids": ["6690069155"]}, "invalid_status", "only delivered orders"),
    ("refund to another card", "return_delivered_order_items", RETURN | {"payment_method_id": "paypal_0000001"}, "not_found", "not on your profile"),
    ("gift card too small", "modify_pending_order_items", ITEMS | {"item_ids": ["6735339143"], "new_item_ids": ["4894369688"], "payment_method_id": "gift_card_6023546"}, "payment_error", "not enough"),
    ("same payment method", "modify_pending_order_payment", {"order_id": PENDING, "payment_method_id": CARD}, "invalid_argument", "already paid with"),
    # free text: markup, statement separators, control characters, length, emptiness, type
    ("address with HTML", "modify_user_address", USER_ADDRESS | {"address1": "<b>1 Main St</b>"}, "invalid_argument", "address1 may contain"),
    ("address with SQL", "modify_user_address", USER_ADDRESS | {"address1": "1 Main St'; DROP TABLE customers; --"}, "invalid_argument", "address1 may contain"),
    ("address with NUL", "modify_pending_order_address", ORDER_ADDRESS | {"city": "Cuper\x00tino"}, "invalid_argument", "control characters"),
    ("address too long", "modify_pending_order_address", ORDER_ADDRESS | {"address1": "1" * 101}, "invalid_argument", "too long"),
    ("address empty", "modify_pending_order_address", ORDER_ADDRESS | {"address1": "  "}, "invalid_argument", "must not be empty"),
    ("state not text", "modify_user_address", USER_ADDRESS | {"state": 5}, "invalid_argument", "must be text"),
    ("zip malformed", "modify_user_address", USER_ADDRESS | {"zip": "9$014"}, "invalid_argument", "zip must be"),
    ("summary empty", "transfer_to_human_agents", {"summary": ""}, "invalid_argument", "must not be empty"),
    ("summary too long", "transfer_to_human_agents", {"summary": "x" * 2001}, "invalid_argument", "too long"),
    # amounts: negative, NaN, infinite, huge, fractional cents, not a number
    ("price negative", "search_variants", SEARCH | {"price_min": -1}, "invalid_argument", "must not be negative"),
    ("price NaN", "search_variants", SEARCH | {"price_min": float("nan")}, "invalid_argument", "finite"),
    ("price NaN text", "search_variants", SEARCH | {"price_max": "NaN"}, "invalid_argument", "finite"),
    ("price infinite", "search_variants", SEARCH | {"price_max": float("inf")}, "invalid_argument", "finite"),
    ("price huge", "search_variants", SEARCH | {"price_max": 10**12}, "invalid_argument", "at most"),
    ("price fractional cents", "search_variants", SEARCH | {"price_min": "10.005"}, "invalid_argument", "whole cents"),
    ("price not a number", "search_variants", SEARCH | {"price_min": "cheap"}, "invalid_argument", "amount of money"),
    ("price boolean", "search_variants", SEARCH | {"price_min": True}, "invalid_argument", "amount of money"),
    ("price range upside down", "search_variants", SEARCH | {"price_min": 50, "price_max": 10}, "invalid_argument", "not be above"),
    ("options not a mapping", "search_variants", SEARCH | {"options": ["blue"]}, "invalid_argument", "mapping"),
    ("unknown product type", "search_variants", {"product_type": "Spaceship"}, "not_found", "no product type"),
    # the call itself
    ("unknown argument", "cancel_pending_order", CANCEL | {"refund": 1000}, "invalid_argument", "no argument 'refund'"),
    ("missing argument", "cancel_pending_order", {"order_id": PENDING}, "invalid_argument", "needs the argument 'reason'"),
    ("unknown operation", "refund_everything", {}, "invalid_argument", "no operation called"),
    ("arithmetic with power", "calculate", {"expression": "9**9**9"}, "invalid_argument", "Only numbers"),
    ("arithmetic by zero", "calculate", {"expression": "1/0"}, "invalid_argument", "division by zero"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "arguments", "kind", "fragment"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD],
)
def test_bad_input_is_refused_and_changes_nothing(name, arguments, kind, fragment, tmp_path):
    engine = fresh_store(tmp_path)
    before = owner_records(engine)

    with pytest.raises(StoreError) as refused:
        call(engine, name, arguments, OWNER)

    assert (refused.value.kind, fragment in refused.value.message) == (kind, True), refused.value
    assert owner_records(engine) == before


@pytest.mark.parametrize(
    "address1",
    [
        "12 O'Brien St.",
        "Rue de l'Église 3",
        "Flat 2/14 (rear)",
        "5 Smith & Sons Yard #4",
        "Straße 9-11",
    ],
)
def test_valid_addresses_are_stored_verbatim(address1, tmp_path):
    engine = fresh_store(tmp_path)
    user = call(engine, "modify_user_address", USER_ADDRESS | {"address1": address1}, OWNER)
    assert user["address"] == ADDRESS | {"address1": address1}
    assert owner_records(engine)["users"][OWNER]["address"]["address1"] == address1

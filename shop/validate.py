"""Checks on every input an operation receives, before it reads or changes anything.

Wrong types, over-long strings, characters that have no place in a field, bad amounts: an
`InvalidArgument` that says which field and why. A malformed id is a `NotFound` (there is no
such record), with a hint at what ids look like, so that a malformed and an unknown id are the
same kind of answer, as in τ²-bench.

Free text that we store (address lines, handoff summaries) is kept verbatim when valid. Address
fields take letters, digits, spaces and the punctuation addresses use; markup (`<`, `>`) and
statement separators (`;`) are refused rather than escaped, so what is stored is what was meant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from shop.errors import InvalidArgument, NotFound
from shop.rules import CENT

# Limits (why: generous for any real value, small enough that nothing can flood the store).
MAX_ID = 64
MAX_ITEMS = 50  # items per request; the largest order has 5 lines
MAX_ADDRESS_FIELD = 100
MAX_SUMMARY = 2000
MAX_NAME = 100
MAX_EMAIL = 254
MAX_AMOUNT = Decimal("1000000.00")
MAX_OPTIONS = 10
MAX_OPTION_TEXT = 50

ORDER_ID = re.compile(r"#W\d{7}")
ITEM_ID = re.compile(r"\d{10}")  # product ids have the same shape
USER_ID = re.compile(r"[a-z]+(?:_[a-z]+)*_\d{1,10}")
PAYMENT_METHOD_ID = re.compile(r"(?:gift_card|credit_card|paypal)_\d{1,10}")
ADDRESS_TEXT = re.compile(r"[\w .,'#/&()\-]*")
ZIP = re.compile(r"[A-Za-z0-9 \-]{3,10}")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text(value: Any, field: str, *, max_length: int, allow_empty: bool = False) -> str:
    """A string of at most `max_length` characters with no control characters."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be text, not {type(value).__name__}.")
    if len(value) > max_length:
        raise InvalidArgument(
            f"{field} is too long ({len(value)} characters, at most {max_length})."
        )
    if not allow_empty and not value.strip():
        raise InvalidArgument(f"{field} must not be empty.")
    if CONTROL.search(value):
        raise InvalidArgument(f"{field} contains control characters.")
    return value


def _identifier(value: Any, field: str, pattern: re.Pattern[str], missing: str, hint: str) -> str:
    value = text(value, field, max_length=MAX_ID, allow_empty=True)
    if not pattern.fullmatch(value):
        raise NotFound(f"{missing} {hint}")
    return value


def order_id(value: Any) -> str:
    return _identifier(
        value, "order_id", ORDER_ID, "Order not found:", "order ids look like #W1234567."
    )


def item_id(value: Any, field: str = "item_id") -> str:
    return _identifier(value, field, ITEM_ID, "Item not found:", "item ids are 10 digits.")


def product_id(value: Any) -> str:
    return _identifier(
        value, "product_id", ITEM_ID, "Product not found:", "product ids are 10 digits."
    )


def user_id(value: Any) -> str:
    return _identifier(
        value, "user_id", USER_ID, "User not found:", "user ids look like jane_doe_1234."
    )


def payment_method_id(value: Any) -> str:
    return _identifier(
        value,
        "payment_method_id",
        PAYMENT_METHOD_ID,
        "Payment method not found:",
        "ids look like credit_card_1234567, gift_card_1234567 or paypal_1234567.",
    )


def item_ids(value: Any, field: str, *, allow_empty: bool = False) -> list[str]:
    """A list of item ids (repeats allowed: an order may hold the same item twice).

    `allow_empty` is for the second list of a pair, whose length is checked against the first
    after the first's items were found in the order (τ²-bench's order of checks)."""
    if not isinstance(value, list | tuple):
        raise InvalidArgument(f"{field} must be a list of item ids.")
    if not value and not allow_empty:
        raise InvalidArgument(f"{field} must name at least one item.")
    if len(value) > MAX_ITEMS:
        raise InvalidArgument(f"{field} has {len(value)} items, at most {MAX_ITEMS}.")
    return [item_id(item, field) for item in value]


def address_field(value: Any, field: str, *, allow_empty: bool = False) -> str:
    value = text(value, field, max_length=MAX_ADDRESS_FIELD, allow_empty=allow_empty)
    if not ADDRESS_TEXT.fullmatch(value):
        raise InvalidArgument(
            f"{field} may contain letters, digits, spaces and . , ' # / & ( ) - only."
        )
    return value


def address(
    address1: Any, address2: Any, city: Any, state: Any, country: Any, zip: Any
) -> dict[str, str]:
    """A postal address in `db.json` field order; address2 may be empty."""
    checked = {
        "address1": address_field(address1, "address1"),
        "address2": address_field(address2, "address2", allow_empty=True),
        "city": address_field(city, "city"),
        "country": address_field(country, "country"),
        "state": address_field(state, "state"),
        "zip": text(zip, "zip", max_length=10),
    }
    if not ZIP.fullmatch(checked["zip"]):
        raise InvalidArgument("zip must be 3 to 10 letters, digits, spaces or hyphens.")
    return checked


def amount(value: Any, field: str) -> Decimal:
    """A sum of money: finite, not negative, at most `MAX_AMOUNT`, whole cents."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidArgument(f"{field} must be an amount of money.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{field} must be a finite amount.")
    try:
        money = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidArgument(f"{field} must be an amount of money.") from None
    if not money.is_finite():
        raise InvalidArgument(f"{field} must be a finite amount.")
    if money < 0:
        raise InvalidArgument(f"{field} must not be negative.")
    if money > MAX_AMOUNT:
        raise InvalidArgument(f"{field} must be at most {MAX_AMOUNT}.")
    if money != money.quantize(CENT):
        raise InvalidArgument(f"{field} must be in whole cents.")
    return money.quantize(CENT)


def options(value: Any) -> dict[str, str]:
    """Variant options to match, e.g. {"color": "blue", "size": "M"}."""
    if not isinstance(value, dict):
        raise InvalidArgument("options must be a mapping of option name to value.")
    if len(value) > MAX_OPTIONS:
        raise InvalidArgument(f"options has {len(value)} entries, at most {MAX_OPTIONS}.")
    return {
        text(key, "option name", max_length=MAX_OPTION_TEXT): text(
            val, f"option {key!r}", max_length=MAX_OPTION_TEXT
        )
        for key, val in value.items()
    }


def same_length(first: Sequence[str], second: Sequence[str]) -> None:
    if len(first) != len(second):
        raise InvalidArgument(
            f"item_ids and new_item_ids must pair up one to one "
            f"({len(first)} and {len(second)} given)."
        )

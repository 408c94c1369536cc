"""The offline voice: sentences from `config/replies.yaml`, filled with phrases built from data.

Every value placed in a reply comes from a tool result, a passage or the conversation's state;
this module only words them (money, items with their options, payment methods, addresses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).parent / "config" / "replies.yaml"


@cache
def _sentences() -> dict[str, str]:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


def say(key: str, **fields: Any) -> str:
    """The sentence `key` with its placeholders filled."""
    return _sentences()[key].format(**fields)


def money(amount: Any) -> str:
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${value:,.2f}"


def join(parts: Iterable[str], last: str = "and") -> str:
    items = [p for p in parts if p]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def options_phrase(options: Mapping[str, Any]) -> str:
    return ", ".join(str(value) for value in options.values())


def item_phrase(item: Mapping[str, Any], *, price: bool = False) -> str:
    """`the Water Bottle (1000ml, glass, blue)`, optionally with its price."""
    text = f"the {item.get('name', 'item')}"
    if item.get("options"):
        text += f" ({options_phrase(item['options'])})"
    if price and item.get("price") is not None:
        text += f" at {money(item['price'])}"
    return text


def items_phrase(items: Iterable[Mapping[str, Any]], *, price: bool = False) -> str:
    return join(item_phrase(item, price=price) for item in items)


def method_phrase(method: Mapping[str, Any] | None, method_id: str = "") -> str:
    """`your Mastercard ending in 9212`, `your PayPal account`, `your gift card`."""
    method = method or {}
    source = method.get("source") or method_id.rsplit("_", 1)[0]
    if source == "credit_card":
        brand = str(method.get("brand") or "credit card").title()
        last_four = method.get("last_four")
        return f"your {brand} ending in {last_four}" if last_four else f"your {brand}"
    if source == "paypal":
        return "your PayPal account"
    if source == "gift_card":
        return "your gift card"
    return method_id or "your payment method"


def address_phrase(address: Mapping[str, Any]) -> str:
    street = ", ".join(p for p in (address.get("address1"), address.get("address2")) if p)
    region = " ".join(p for p in (address.get("state"), address.get("zip")) if p)
    return ", ".join(p for p in (street, address.get("city"), region, address.get("country")) if p)


def refund_timing(method_id: str) -> str:
    return say("refund_timing_gift" if method_id.startswith("gift_card") else "refund_timing_card")

"""The exact words of a confirmation: what will change, for how much, and where money goes.

Written by code from the store's own records (never from a model's prose), so that what the
customer says yes to is exactly what the write will do. The same facts word the "done" reply.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from crew import replies
from crew.plan import ToolCall
from crew.replies import say
from shop import rules

Reader = Callable[..., Any]  # read(tool, **arguments) -> the tool's result


class Described(BaseModel):
    summary: str
    facts: dict[str, str] = Field(default_factory=dict)
    refund: Decimal | None = None

    @property
    def needs_approval(self) -> bool:
        return self.refund is not None and self.refund > rules.refund_approval_threshold()


def _items(order: dict[str, Any], item_ids: list[str]) -> list[dict[str, Any]]:
    remaining = list(order.get("items", []))
    chosen = []
    for item_id in item_ids:
        match = next((i for i in remaining if i["item_id"] == item_id), None)
        if match is not None:
            remaining.remove(match)
            chosen.append(match)
    return chosen


def _method(user: dict[str, Any], method_id: str) -> str:
    return replies.method_phrase(user.get("payment_methods", {}).get(method_id), method_id)


def _variant(read: Reader, item: dict[str, Any], new_id: str) -> dict[str, Any]:
    product = read("get_product_details", product_id=item["product_id"])
    variant = product["variants"][new_id]
    return {"name": product["name"], "options": variant["options"], "price": variant["price"]}


def _swap(read: Reader, order: dict[str, Any], call: ToolCall) -> tuple[str, Decimal]:
    old = _items(order, call.arguments["item_ids"])
    new = [
        _variant(read, item, n)
        for item, n in zip(old, call.arguments["new_item_ids"], strict=False)
    ]
    changes = replies.join(
        f"{replies.item_phrase(a)} for {replies.item_phrase(b)}"
        for a, b in zip(old, new, strict=True)
    )
    difference = sum(
        Decimal(str(b["price"])) - Decimal(str(a["price"])) for a, b in zip(old, new, strict=True)
    )
    return changes, Decimal(difference)


def _difference(amount: Decimal, method: str) -> str:
    if amount > 0:
        return say("difference_pay", amount=replies.money(amount), method=method)
    if amount < 0:
        return say("difference_refund", amount=replies.money(-amount), method=method)
    return say("difference_none")


def describe(call: ToolCall, read: Reader) -> Described:
    """The confirmation sentence and facts for `call` (which the store will still validate)."""
    args = call.arguments
    user = read("get_user_details")
    if call.tool == "modify_user_address":
        address = replies.address_phrase(args)
        return Described(
            summary=say("confirm_update_address", address=address), facts={"address": address}
        )
    order = read("get_order_details", order_id=args["order_id"])
    order_id = order["order_id"]
    if call.tool == "return_delivered_order_items":
        items = _items(order, args["item_ids"])
        amount = sum((Decimal(str(i["price"])) for i in items), Decimal(0))
        method = _method(user, args["payment_method_id"])
        facts = {
            "items": replies.items_phrase(items),
            "amount": replies.money(amount),
            "method": method,
        }
        summary = say("confirm_return", order_id=order_id, **facts)
        return Described(summary=summary, facts=facts, refund=amount)
    if call.tool in {"exchange_delivered_order_items", "modify_pending_order_items"}:
        changes, difference = _swap(read, order, call)
        method = _method(user, args["payment_method_id"])
        key = "confirm_exchange" if call.tool.startswith("exchange") else "confirm_modify_items"
        summary = say(
            key, order_id=order_id, changes=changes, difference=_difference(difference, method)
        )
        refund = -difference if difference < 0 else None
        return Described(summary=summary, facts={"changes": changes}, refund=refund)
    if call.tool == "cancel_pending_order":
        paid = [p for p in order.get("payment_history", []) if p["transaction_type"] == "payment"]
        amount = sum((Decimal(str(p["amount"])) for p in paid), Decimal(0))
        method = _method(user, paid[0]["payment_method_id"]) if paid else "your payment method"
        refund = say("refund_to", amount=replies.money(amount), method=method)
        facts = {"refund": refund}
        summary = say(
            "confirm_cancel",
            order_id=order_id,
            items=replies.items_phrase(order.get("items", [])),
            reason=args["reason"],
            refund=refund,
        )
        return Described(summary=summary, facts=facts, refund=amount)
    if call.tool == "modify_pending_order_address":
        address = replies.address_phrase(args)
        summary = say("confirm_modify_address", order_id=order_id, address=address)
        return Described(summary=summary, facts={"address": address})
    if call.tool == "modify_pending_order_payment":
        paid = [p for p in order.get("payment_history", []) if p["transaction_type"] == "payment"]
        method = _method(user, args["payment_method_id"])
        facts = {"method": method}
        summary = say(
            "confirm_modify_payment",
            order_id=order_id,
            amount=replies.money(sum(Decimal(str(p["amount"])) for p in paid)),
            method=method,
            old_method=_method(user, paid[0]["payment_method_id"]) if paid else "the old method",
        )
        return Described(summary=summary, facts=facts)
    raise ValueError(f"no confirmation wording for {call.tool}")

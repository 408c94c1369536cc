"""Writes on delivered orders: return items, exchange items for other options.

Both only record the request (status, items, refund method, price difference): no money moves
until the items come back. τ²-bench semantics and order of checks; see `shop/pending.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shop import orders, validate
from shop.errors import InvalidStatus, PaymentError
from shop.export import order_of
from shop.rules import EXCHANGEABLE_STATUS, RETURNABLE_STATUS


def return_delivered_order_items(
    session: Session,
    order_id: str,
    item_ids: list[str],
    payment_method_id: str,
    *,
    customer_id: str,
) -> dict[str, Any]:
    """Request the return of delivered items; the refund goes to `payment_method_id`, which
    must be the order's original payment method or one of the customer's gift cards."""
    validate.order_id(order_id)
    item_ids = validate.item_ids(item_ids, "item_ids")
    validate.payment_method_id(payment_method_id)
    order = orders.load(session, order_id, customer_id, lock=True)
    if order.status != RETURNABLE_STATUS:
        raise InvalidStatus(
            f"Order {order.id} is {order.status}: only delivered orders can be returned."
        )
    method = orders.payment_method(session, order.customer_id, payment_method_id)
    original = order.payments[0].payment_method_id if order.payments else None
    if not method.is_gift_card and payment_method_id != original:
        raise PaymentError(
            f"A refund for order {order.id} can go to its original payment method ({original}) "
            "or to a gift card only."
        )
    orders.check_items_in_order(order, item_ids)

    order.status = "return requested"
    orders.step(session, "return_delivered_order_items.status")
    order.return_items = sorted(item_ids)
    order.return_payment_method_id = payment_method_id
    orders.step(session, "return_delivered_order_items.items")
    return order_of(order)


def exchange_delivered_order_items(
    session: Session,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    customer_id: str,
) -> dict[str, Any]:
    """Request the exchange of delivered items for other options of the same products; the
    price difference will be charged to, or refunded on, `payment_method_id`."""
    swap = orders.swap(
        session,
        order_id,
        item_ids,
        new_item_ids,
        payment_method_id,
        customer_id=customer_id,
        status=EXCHANGEABLE_STATUS,
        refusal="only delivered orders can be exchanged.",
    )
    order, difference = swap.order, swap.difference
    method = orders.payment_method(session, order.customer_id, payment_method_id)
    orders.check_gift_card_covers(method, difference, f"the difference of {difference}")

    order.status = "exchange requested"
    orders.step(session, "exchange_delivered_order_items.status")
    order.exchange_items = sorted(swap.item_ids)
    order.exchange_new_items = sorted(swap.new_item_ids)
    orders.step(session, "exchange_delivered_order_items.items")
    order.exchange_payment_method_id = payment_method_id
    order.exchange_price_difference = difference
    orders.step(session, "exchange_delivered_order_items.payment")
    return order_of(order)

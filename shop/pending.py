"""Writes on pending orders: cancel, change the address, the payment method or the items.

Semantics of τ²-bench's retail tools (`../shared/data/tau2/REFERENCE.md`), including the order
in which checks fail, with its known defects corrected: every check runs before the first
change, each item gets its own new variant, a cancellation refunds what is net paid per method
(not every history entry), and money is exact cents. Each function runs inside the caller's
transaction and never commits.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shop import orders, validate
from shop.errors import InvalidArgument, InvalidStatus, NotFound, PaymentError
from shop.export import order_of
from shop.models import Order, PaymentMethod
from shop.rules import (
    ADDRESS_PAYMENT_MODIFIABLE_MARKER,
    CANCEL_REASONS,
    CANCELLABLE_STATUS,
    ITEMS_MODIFIABLE_STATUS,
)


def net_paid(order: Order) -> dict[str, Decimal]:
    """Money the order holds per payment method (payments minus refunds), in history order."""
    net: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for entry in order.payments:
        sign = 1 if entry.transaction_type == "payment" else -1
        net[entry.payment_method_id] += sign * entry.amount
    return {method: amount for method, amount in net.items() if amount > 0}


def _methods(session: Session, customer_id: str, ids: list[str]) -> dict[str, PaymentMethod]:
    """The customer's payment methods `ids`, locked in id order (one order for every writer:
    no deadlocks), since a gift card's balance may change."""
    found = {
        method.id: method
        for method in session.scalars(
            orders.locked(
                select(PaymentMethod)
                .where(PaymentMethod.id.in_(ids), PaymentMethod.customer_id == customer_id)
                .order_by(PaymentMethod.id)
            )
        )
    }
    if set(ids) - set(found):
        raise NotFound(orders.PAYMENT_METHOD_NOT_FOUND)
    return found


def check_cancel_reason(reason: str) -> None:
    if reason not in CANCEL_REASONS:
        raise InvalidArgument("The reason must be 'no longer needed' or 'ordered by mistake'.")


def cancel_pending_order(
    session: Session, order_id: str, reason: str, *, customer_id: str
) -> dict[str, Any]:
    """Cancel a pending order and refund it; gift cards are credited at once."""
    validate.order_id(order_id)
    reason = validate.text(reason, "reason", max_length=40)
    order = orders.load(session, order_id, customer_id, lock=True)
    if order.status != CANCELLABLE_STATUS:
        raise InvalidStatus(
            f"Order {order.id} is {order.status}: only pending orders can be cancelled."
        )
    check_cancel_reason(reason)
    refunds = net_paid(order)
    methods = _methods(session, order.customer_id, list(refunds))

    order.status = "cancelled"
    order.cancel_reason = reason
    orders.step(session, "cancel_pending_order.status")
    for method_id, amount in refunds.items():
        orders.add_payment(order, "refund", amount, method_id)
    orders.step(session, "cancel_pending_order.refunds")
    for method_id, amount in refunds.items():
        if methods[method_id].is_gift_card:
            methods[method_id].balance += amount
    orders.step(session, "cancel_pending_order.gift_cards")
    return order_of(order)


def modify_pending_order_address(
    session: Session,
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
    *,
    customer_id: str,
) -> dict[str, Any]:
    """Ship a pending order (also one whose items were modified) to another address."""
    validate.order_id(order_id)
    new = validate.address(address1, address2, city, state, country, zip)
    order = orders.load(session, order_id, customer_id, lock=True)
    if ADDRESS_PAYMENT_MODIFIABLE_MARKER not in order.status:
        raise InvalidStatus(
            f"Order {order.id} is {order.status}: its address can no longer change."
        )
    orders.rewrite_address(session, order.address_id, new, "modify_pending_order_address")
    return order_of(order)


def modify_pending_order_payment(
    session: Session, order_id: str, payment_method_id: str, *, customer_id: str
) -> dict[str, Any]:
    """Pay a pending order with another method: charge the new one, refund the old one."""
    validate.order_id(order_id)
    validate.payment_method_id(payment_method_id)
    order = orders.load(session, order_id, customer_id, lock=True)
    if ADDRESS_PAYMENT_MODIFIABLE_MARKER not in order.status:
        raise InvalidStatus(
            f"Order {order.id} is {order.status}: its payment can no longer change."
        )
    orders.payment_method(session, order.customer_id, payment_method_id)
    history = order.payments
    if len(history) != 1 or history[0].transaction_type != "payment":
        raise PaymentError(
            f"The payment of order {order.id} was already changed; it can change only once."
        )
    old_id, amount = history[0].payment_method_id, history[0].amount
    if old_id == payment_method_id:
        raise InvalidArgument(f"Order {order.id} is already paid with {payment_method_id}.")
    methods = _methods(session, order.customer_id, sorted({old_id, payment_method_id}))
    new, old = methods[payment_method_id], methods[old_id]
    orders.check_gift_card_covers(new, amount, f"order {order.id} ({amount})")

    orders.add_payment(order, "payment", amount, payment_method_id)
    orders.add_payment(order, "refund", amount, old_id)
    orders.step(session, "modify_pending_order_payment.history")
    if new.is_gift_card:
        new.balance -= amount
    orders.step(session, "modify_pending_order_payment.charge")
    if old.is_gift_card:
        old.balance += amount
    orders.step(session, "modify_pending_order_payment.refund")
    return order_of(order)


def modify_pending_order_items(
    session: Session,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    customer_id: str,
) -> dict[str, Any]:
    """Swap items of a pending order for other options of the same products (once per order);
    the price difference is charged to, or refunded on, `payment_method_id` at once."""
    swap = orders.swap(
        session,
        order_id,
        item_ids,
        new_item_ids,
        payment_method_id,
        customer_id=customer_id,
        status=ITEMS_MODIFIABLE_STATUS,
        refusal="its items can no longer change.",
    )
    order, difference = swap.order, swap.difference
    method = _methods(session, order.customer_id, [payment_method_id])[payment_method_id]
    orders.check_gift_card_covers(method, difference, f"the difference of {difference}")

    orders.add_payment(
        order, "payment" if difference > 0 else "refund", abs(difference), payment_method_id
    )
    orders.step(session, "modify_pending_order_items.payment")
    if method.is_gift_card:
        method.balance -= difference
    orders.step(session, "modify_pending_order_items.gift_card")
    for line, variant in zip(swap.lines, swap.variants, strict=True):
        line.item_id, line.price, line.options = variant.id, variant.price, variant.options
    order.status = "pending (item modified)"
    orders.step(session, "modify_pending_order_items.items")
    return order_of(order)

"""Reading orders, and the lookups every order write shares.

Every order is looked up for the authenticated customer only: someone else's order and an order
that does not exist give the same `NotFound`, word for word. Writes lock the order row
(`SELECT ... FOR UPDATE`) before reading anything they will change; every child row of an order
(items, payments, address) changes only under that lock, and gift cards are locked in id order,
so concurrent writers serialise instead of deadlocking or losing an update.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shop import faults, validate
from shop.errors import InvalidArgument, InvalidStatus, NotFound, PaymentError, Unavailable
from shop.export import order_of
from shop.models import Address, Order, OrderItem, Payment, PaymentMethod, Product, Variant

# Word for word the same whether the record is someone else's or does not exist at all.
ORDER_NOT_FOUND = "We could not find that order on your account."
PAYMENT_METHOD_NOT_FOUND = "That payment method is not on your profile."


def locked(query: Select[Any]) -> Select[Any]:
    """`query` taking row locks (FOR UPDATE), and re-reading what this transaction may have read
    before the lock: values read earlier (say, by a refund preview) may since have changed."""
    return query.with_for_update().execution_options(populate_existing=True)


def context(customer_id: Any) -> str:
    """The authenticated customer, as code passed it (never a model's argument)."""
    if not isinstance(customer_id, str) or not customer_id:
        raise NotFound("No customer is signed in for this request.")
    return customer_id


def load(session: Session, order_id: Any, customer_id: Any, *, lock: bool = False) -> Order:
    """The customer's order `order_id`, locked for update when the caller will change it."""
    oid = validate.order_id(order_id)
    query = select(Order).where(Order.id == oid, Order.customer_id == context(customer_id))
    order = session.scalars(locked(query) if lock else query).one_or_none()
    if order is None:
        raise NotFound(ORDER_NOT_FOUND)
    return order


def payment_method(session: Session, customer_id: str, method_id: str) -> PaymentMethod:
    """One of the customer's payment methods (writes that move a balance lock it as well)."""
    query = select(PaymentMethod).where(
        PaymentMethod.id == method_id, PaymentMethod.customer_id == customer_id
    )
    method = session.scalars(query).one_or_none()
    if method is None:
        raise NotFound(PAYMENT_METHOD_NOT_FOUND)
    return method


def check_items_in_order(order: Order, item_ids: Sequence[str]) -> None:
    """Every requested item is in the order, as many times as it is requested."""
    held = Counter(item.item_id for item in order.items)
    for item_id, wanted in Counter(item_ids).items():
        if wanted > held[item_id]:
            if held[item_id]:
                raise NotFound(
                    f"Order {order.id} has {held[item_id]} of item {item_id}, not {wanted}."
                )
            raise NotFound(f"Item {item_id} is not in order {order.id}.")


def pair_lines(order: Order, item_ids: Sequence[str]) -> list[OrderItem]:
    """The order line each requested item refers to: the k-th request of an item id is its
    k-th line in the order (an order may hold the same item twice)."""
    taken: set[int] = set()
    lines = []
    for item_id in item_ids:
        line = next(i for i in order.items if i.item_id == item_id and id(i) not in taken)
        taken.add(id(line))
        lines.append(line)
    return lines


def replacement(session: Session, line: OrderItem, new_item_id: str) -> Variant:
    """The available variant `new_item_id` of the same product as `line`, and not `line`'s."""
    product = session.get(Product, line.product_id)
    if product is None:
        raise NotFound(f"Product {line.product_id} ({line.name}) was not found in the catalogue.")
    if new_item_id == line.item_id:
        raise InvalidArgument(
            f"The new item for {line.item_id} must be a different option, not the same item."
        )
    variant = session.get(Variant, new_item_id)
    if variant is None or variant.product_id != product.id:
        raise NotFound(f"Item {new_item_id} is not an option of the {product.name}.")
    if not variant.available:
        raise Unavailable(f"Item {new_item_id} ({product.name}) is not available.")
    return variant


def swaps(
    session: Session, order: Order, item_ids: Sequence[str], new_item_ids: Sequence[str]
) -> tuple[list[OrderItem], list[Variant]]:
    """The order lines to change and the variant replacing each, with τ²-bench's checks in its
    order: items in the order, lists pair up, then per pair product, option and availability."""
    check_items_in_order(order, item_ids)
    validate.same_length(item_ids, new_item_ids)
    lines = pair_lines(order, item_ids)
    variants = [
        replacement(session, line, new) for line, new in zip(lines, new_item_ids, strict=True)
    ]
    return lines, variants


def price_difference(lines: Sequence[OrderItem], variants: Sequence[Variant]) -> Decimal:
    """What the new items cost more (positive) or less (negative) than the old ones."""
    return sum(
        (variant.price - line.price for line, variant in zip(lines, variants, strict=True)),
        Decimal("0.00"),
    )


@dataclass(frozen=True)
class Swap:
    """A checked request to swap items of a locked order for other options, priced."""

    order: Order
    item_ids: list[str]
    new_item_ids: list[str]
    lines: list[OrderItem]
    variants: list[Variant]
    difference: Decimal


def swap(
    session: Session,
    order_id: Any,
    item_ids: Any,
    new_item_ids: Any,
    payment_method_id: Any,
    *,
    customer_id: Any,
    status: str,
    refusal: str,
) -> Swap:
    """Every check an item swap (exchange, item change) makes before looking at the payment
    method, in τ²-bench's order; an order not in `status` is refused with `refusal`."""
    validate.order_id(order_id)
    item_ids = validate.item_ids(item_ids, "item_ids")
    new_item_ids = validate.item_ids(new_item_ids, "new_item_ids", allow_empty=True)
    validate.payment_method_id(payment_method_id)
    order = load(session, order_id, customer_id, lock=True)
    if order.status != status:
        raise InvalidStatus(f"Order {order.id} is {order.status}: {refusal}")
    lines, variants = swaps(session, order, item_ids, new_item_ids)
    difference = price_difference(lines, variants)
    return Swap(order, item_ids, new_item_ids, lines, variants, difference)


def check_gift_card_covers(method: PaymentMethod, amount: Decimal, what: str) -> None:
    if method.is_gift_card and (method.balance or Decimal(0)) < amount:
        raise PaymentError(
            f"Gift card {method.id} has {method.balance} left, not enough to pay {what}."
        )


def add_payment(order: Order, transaction_type: str, amount: Decimal, method_id: str) -> None:
    order.payments.append(
        Payment(
            position=len(order.payments),
            transaction_type=transaction_type,
            amount=amount,
            payment_method_id=method_id,
        )
    )


def rewrite_address(session: Session, address_id: int, new: dict[str, str], operation: str) -> None:
    """Overwrite an address row in two steps (a fault between them must leave no trace)."""
    address = session.scalars(locked(select(Address).where(Address.id == address_id))).one()
    fields = list(new.items())
    for field, value in fields[:3]:
        setattr(address, field, value)
    step(session, f"{operation}.street")
    for field, value in fields[3:]:
        setattr(address, field, value)
    step(session, f"{operation}.region")


def step(session: Session, name: str) -> None:
    """End one mutation step: write it to the transaction, then let a fault test interrupt."""
    session.flush()
    faults.checkpoint(name)


# Reads


def get_order(session: Session, order_id: str, *, customer_id: str) -> dict[str, Any]:
    """The customer's order in τ²-bench shape (all seven optional fields, money as Decimal)."""
    return order_of(load(session, order_id, customer_id))


def list_orders(session: Session, *, customer_id: str) -> list[dict[str, Any]]:
    """The customer's orders, in their profile's order: id, status, items and total."""
    query = (
        select(Order)
        .where(Order.customer_id == context(customer_id))
        .order_by(Order.customer_position)
    )
    return [
        {
            "order_id": order.id,
            "status": order.status,
            "items": [
                {"name": i.name, "item_id": i.item_id, "options": i.options, "price": i.price}
                for i in order.items
            ],
            "total": sum((i.price for i in order.items), Decimal("0.00")),
        }
        for order in session.scalars(query)
    ]

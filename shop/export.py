"""The store as τ²-bench `db.json` records: one builder per record, used by every reader.

The builders take anything with the column names as attributes, so the same code shapes an ORM
object (the operations' results) and a Core row (`snapshot`, which reads the whole store in a
few queries instead of building thousands of ORM objects). Money stays `Decimal` in records;
`jsonable` turns it into JSON numbers at the edge.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shop.models import (
    Address,
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Product,
    Variant,
)

OPTIONAL_ORDER_FIELDS: tuple[str, ...] = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)
TABLES: tuple[str, ...] = ("products", "users", "orders")


def jsonable(value: Any) -> Any:
    """`value` with every `Decimal` as a JSON number (float; our amounts are whole cents)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def address_record(address: Any) -> dict[str, str]:
    return {
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "country": address.country,
        "state": address.state,
        "zip": address.zip,
    }


def payment_method_record(method: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"source": method.source, "id": method.id}
    if method.source == "credit_card":
        record |= {"brand": method.brand, "last_four": method.last_four}
    elif method.source == "gift_card":
        record["balance"] = method.balance
    return record


def user_record(
    customer: Any, address: Any, methods: Iterable[Any], order_ids: Iterable[str]
) -> dict[str, Any]:
    return {
        "user_id": customer.id,
        "name": {"first_name": customer.first_name, "last_name": customer.last_name},
        "address": address_record(address),
        "email": customer.email,
        "payment_methods": {method.id: payment_method_record(method) for method in methods},
        "orders": list(order_ids),
    }


def order_record(
    order: Any,
    address: Any,
    items: Iterable[Any],
    fulfillments: Iterable[Any],
    payments: Iterable[Any],
    *,
    all_fields: bool,
) -> dict[str, Any]:
    """An order; with `all_fields` the seven optional fields appear as null when unset (the
    tools' output), without it only when set (the shape of `db.json`)."""
    record: dict[str, Any] = {
        "order_id": order.id,
        "user_id": order.customer_id,
        "address": address_record(address),
        "items": [
            {
                "name": item.name,
                "product_id": item.product_id,
                "item_id": item.item_id,
                "price": item.price,
                "options": item.options,
            }
            for item in items
        ],
        "status": order.status,
        "fulfillments": [
            {"tracking_id": list(f.tracking_ids), "item_ids": list(f.item_ids)}
            for f in fulfillments
        ],
        "payment_history": [
            {
                "transaction_type": p.transaction_type,
                "amount": p.amount,
                "payment_method_id": p.payment_method_id,
            }
            for p in payments
        ],
    }
    for field in OPTIONAL_ORDER_FIELDS:
        value = getattr(order, field)
        if all_fields or value is not None:
            record[field] = value
    return record


def variant_record(variant: Any) -> dict[str, Any]:
    return {
        "item_id": variant.id,
        "options": variant.options,
        "available": variant.available,
        "price": variant.price,
    }


def product_record(product: Any, variants: Iterable[Any]) -> dict[str, Any]:
    return {
        "name": product.name,
        "product_id": product.id,
        "variants": {variant.id: variant_record(variant) for variant in variants},
    }


# ORM conveniences for the operations (relationships already ordered by position).


def order_of(order: Order) -> dict[str, Any]:
    """The tools' view of an order: every field, money as `Decimal`."""
    return order_record(
        order, order.address, order.items, order.fulfillments, order.payments, all_fields=True
    )


def user_of(customer: Customer) -> dict[str, Any]:
    return user_record(
        customer,
        customer.address,
        customer.payment_methods,
        [order.id for order in customer.orders],
    )


def _rows(session: Session, model: type, order_by: Any, where: Any = None) -> list[Any]:
    query = select(model.__table__).order_by(order_by)
    if where is not None:
        query = query.where(where)
    return list(session.execute(query))


def _within(column: Any, ids: Collection[str] | None) -> Any:
    """A filter on `column` for `ids`, or no filter (None) for all rows."""
    return None if ids is None else column.in_(list(ids))


def _grouped(rows: Iterable[Any], key: str) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    return groups


def _children(
    session: Session, model: type, parent: str, ids: Collection[str] | None
) -> dict[Any, list[Any]]:
    """Rows of `model` belonging to the parents `ids` (all if None), per parent in position order;
    `parent` names the column holding the parent's id."""
    column = getattr(model, parent)
    return _grouped(_rows(session, model, model.position, _within(column, ids)), parent)


def products_of(session: Session, ids: Collection[str] | None = None) -> dict[str, Any]:
    variants = _children(session, Variant, "product_id", ids)
    return {
        product.id: product_record(product, variants[product.id])
        for product in _rows(session, Product, Product.position, _within(Product.id, ids))
    }


def snapshot(
    session: Session,
    *,
    users: Collection[str] | None = None,
    orders: Collection[str] | None = None,
    products: Collection[str] | None = None,
) -> dict[str, Any]:
    """The store in `db.json` shape (key order included), money as JSON numbers.

    By default everything; given collections of ids, only those users, orders and products (a
    quick look at a few records, e.g. to compare them before and after a change)."""
    customers = _rows(session, Customer, Customer.position, _within(Customer.id, users))
    order_rows = _rows(session, Order, Order.position, _within(Order.id, orders))
    owned = _rows(session, Order, Order.customer_position, _within(Order.customer_id, users))
    scoped = users is not None or orders is not None
    address_ids = {c.address_id for c in customers} | {o.address_id for o in order_rows}
    addresses = {
        row.id: row
        for row in _rows(
            session, Address, Address.id, _within(Address.id, address_ids if scoped else None)
        )
    }
    methods = _children(session, PaymentMethod, "customer_id", users)
    items, fulfillments, payments = (
        _children(session, model, "order_id", orders) for model in (OrderItem, Fulfillment, Payment)
    )
    orders_of = _grouped(owned, "customer_id")
    return jsonable(
        {
            "products": products_of(session, products),
            "users": {
                c.id: user_record(
                    c, addresses[c.address_id], methods[c.id], [o.id for o in orders_of[c.id]]
                )
                for c in customers
            },
            "orders": {
                o.id: order_record(
                    o,
                    addresses[o.address_id],
                    items[o.id],
                    fulfillments[o.id],
                    payments[o.id],
                    all_fields=False,
                )
                for o in order_rows
            },
        }
    )


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per table, the records of `after` that differ from (or are missing in) `before`, by id;
    a record deleted in `after` appears as None."""
    result: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        old, new = before.get(table, {}), after.get(table, {})
        result[table] = {key: record for key, record in new.items() if old.get(key) != record}
        result[table] |= {key: None for key in old if key not in new}
    return result


def dumps(session: Session) -> str:
    """The store as `db.json` text (byte for byte the original's layout)."""
    return json.dumps(snapshot(session), indent=4, ensure_ascii=False)


def write(session: Session, path: Path) -> None:
    path.write_text(dumps(session), encoding="utf-8")

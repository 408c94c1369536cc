"""Load the demo store (τ²-bench retail `db.json`) into an empty database, in bulk.

Rows go in with one multi-row INSERT per table (SQLAlchemy's executemany); addresses come back
with their generated ids (`RETURNING`, on SQLite and PostgreSQL alike) so that nothing depends
on id sequences starting at a particular value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shop.db import Base, create_schema, transaction
from shop.export import OPTIONAL_ORDER_FIELDS
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
from shop.rules import CENT

DEFAULT_PATH = Path(__file__).parent / "data" / "db.json"


class StoreNotEmpty(RuntimeError):
    """Seeding would mix the demo data into a store that already holds customers."""


def _money(value: float | int | str) -> Decimal:
    # Through str: the JSON float 53.43 becomes Decimal("53.43"), not its binary expansion.
    return Decimal(str(value)).quantize(CENT)


def _bulk(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """One executemany INSERT: measured the fastest way on SQLite and on PostgreSQL (psycopg
    pipelines it) against multi-row VALUES and RETURNING batches."""
    session.execute(insert(model), rows)


def _insert_addresses(session: Session, addresses: list[dict[str, str]]) -> list[int]:
    statement = insert(Address).returning(Address.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, addresses))


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Customer))


def load(session: Session, data: dict[str, Any]) -> None:
    """Insert `data` (db.json shape) in the caller's transaction."""
    _load_products(session, data["products"])
    _load_users(session, data["users"])
    _load_orders(session, data["orders"], data["users"])


def _load_products(session: Session, products: dict[str, Any]) -> None:
    _bulk(
        session,
        Product,
        [
            {"id": pid, "position": n, "name": p["name"]}
            for n, (pid, p) in enumerate(products.items())
        ],
    )
    _bulk(
        session,
        Variant,
        [
            {
                "id": vid,
                "product_id": pid,
                "position": n,
                "options": v["options"],
                "available": v["available"],
                "price": _money(v["price"]),
            }
            for pid, p in products.items()
            for n, (vid, v) in enumerate(p["variants"].items())
        ],
    )


def _load_users(session: Session, users: dict[str, Any]) -> None:
    user_addresses = _insert_addresses(session, [u["address"] for u in users.values()])
    _bulk(
        session,
        Customer,
        [
            {
                "id": uid,
                "position": n,
                "first_name": u["name"]["first_name"],
                "last_name": u["name"]["last_name"],
                "email": u["email"],
                "address_id": address_id,
            }
            for n, ((uid, u), address_id) in enumerate(
                zip(users.items(), user_addresses, strict=True)
            )
        ],
    )
    _bulk(
        session,
        PaymentMethod,
        [
            {
                "id": mid,
                "customer_id": uid,
                "position": n,
                "source": m["source"],
                "brand": m.get("brand"),
                "last_four": m.get("last_four"),
                "balance": _money(m["balance"]) if "balance" in m else None,
            }
            for uid, u in users.items()
            for n, (mid, m) in enumerate(u["payment_methods"].items())
        ],
    )


def _load_orders(session: Session, orders: dict[str, Any], users: dict[str, Any]) -> None:
    place = {oid: n for u in users.values() for n, oid in enumerate(u["orders"])}
    order_addresses = _insert_addresses(session, [o["address"] for o in orders.values()])
    _bulk(
        session,
        Order,
        [
            {
                "id": oid,
                "position": n,
                "customer_id": o["user_id"],
                "customer_position": place.get(oid, n),
                "address_id": address_id,
                "status": o["status"],
                **{field: o.get(field) for field in OPTIONAL_ORDER_FIELDS},
                "exchange_price_difference": (
                    _money(o["exchange_price_difference"])
                    if o.get("exchange_price_difference") is not None
                    else None
                ),
            }
            for n, ((oid, o), address_id) in enumerate(
                zip(orders.items(), order_addresses, strict=True)
            )
        ],
    )
    _bulk_children(
        session,
        OrderItem,
        orders,
        "items",
        lambda item: {
            "name": item["name"],
            "product_id": item["product_id"],
            "item_id": item["item_id"],
            "price": _money(item["price"]),
            "options": item["options"],
        },
    )
    _bulk_children(
        session,
        Fulfillment,
        orders,
        "fulfillments",
        lambda f: {"tracking_ids": f["tracking_id"], "item_ids": f["item_ids"]},
    )
    _bulk_children(
        session,
        Payment,
        orders,
        "payment_history",
        lambda p: {
            "transaction_type": p["transaction_type"],
            "amount": _money(p["amount"]),
            "payment_method_id": p["payment_method_id"],
        },
    )


def _bulk_children(
    session: Session,
    model: type,
    orders: dict[str, Any],
    key: str,
    columns: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Insert each order's list `key` as rows of `model`, keyed by order and list position."""
    _bulk(
        session,
        model,
        [
            {"order_id": oid, "position": n, **columns(entry)}
            for oid, o in orders.items()
            for n, entry in enumerate(o[key])
        ],
    )


def read(path: Path | None = None) -> dict[str, Any]:
    return json.loads((path or DEFAULT_PATH).read_text(encoding="utf-8"))


def seed(engine: Engine, path: Path | None = None) -> None:
    """Create the schema and load `path` (default: the demo store); refuses a non-empty store."""
    data = read(path)
    create_schema(engine)
    with transaction(engine) as session:
        if not is_empty(session):
            raise StoreNotEmpty(
                "the store already holds customers; use `python -m shop seed --reset` to "
                "replace everything with the demo data"
            )
        load(session, data)


def ensure_seeded(engine: Engine) -> bool:
    """Seed the demo store if the database is empty (first start); True if it seeded."""
    create_schema(engine)
    try:
        with transaction(engine) as session:
            if not is_empty(session):
                return False
            load(session, read())
    except IntegrityError:  # another replica seeded it between our check and our insert
        return False
    return True


STORE_TABLES = (
    "addresses",
    "products",
    "variants",
    "customers",
    "payment_methods",
    "orders",
    "order_items",
    "fulfillments",
    "payments",
    "handoffs",
)


def reset(engine: Engine, path: Path | None = None) -> None:
    """Delete every row of the store's tables (other packages' tables stay) and seed again."""
    create_schema(engine)
    with transaction(engine) as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in STORE_TABLES:
                session.execute(table.delete())
    seed(engine, path)

"""A seeded store per test, fast: seed one template file per session, copy it for each test."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shop import seed
from shop.db import make_engine, transaction
from shop.export import snapshot
from shop.operations import operation

# Customers and orders the tests use (τ²-bench ids), each chosen for the state it is in.
OWNER = "emma_santos_9753"
INTRUDER = "ethan_lopez_6291"
PENDING = "#W1620235"  # OWNER's, pending, paid once by CARD; first item 6690069155
DELIVERED = "#W3113816"  # OWNER's, delivered, paid by CARD; first item 2206116040
PAID_BY_GIFT_CARD = "#W9903153"  # OWNER's, pending, paid by GIFT_CARD
CARD = "credit_card_5869505"  # OWNER's
GIFT_CARD = "gift_card_6023546"  # OWNER's, balance 36.00
ADDRESS = {
    "address1": "1 Infinite Loop",
    "address2": "",
    "city": "Cupertino",
    "state": "CA",
    "country": "USA",
    "zip": "95014",
}
# A valid call of every customer-scoped operation, made by OWNER (τ² tool name, arguments).
OWNER_CALLS: dict[str, dict[str, Any]] = {
    "get_order_details": {"order_id": PENDING},
    "get_user_details": {"user_id": OWNER},
    "cancel_pending_order": {"order_id": PENDING, "reason": "no longer needed"},
    "modify_pending_order_address": {"order_id": PENDING, **ADDRESS},
    "modify_pending_order_payment": {"order_id": PAID_BY_GIFT_CARD, "payment_method_id": CARD},
    "modify_pending_order_items": {
        "order_id": PENDING,
        "item_ids": ["6690069155"],
        "new_item_ids": ["9956648681"],  # cheaper: refunded on the card
        "payment_method_id": CARD,
    },
    "modify_user_address": {"user_id": OWNER, **ADDRESS},
    "return_delivered_order_items": {
        "order_id": DELIVERED,
        "item_ids": ["2206116040"],
        "payment_method_id": CARD,
    },
    "exchange_delivered_order_items": {
        "order_id": DELIVERED,
        "item_ids": ["2206116040"],
        "new_item_ids": ["3358616356"],
        "payment_method_id": CARD,
    },
}


@cache
def template() -> Path:
    """The seeded template store, built once per test session."""
    directory = Path(tempfile.mkdtemp(prefix="store-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    seed.seed(engine)
    engine.dispose()  # checkpoint the WAL into the file
    return path


def fresh_store(directory: Path) -> Engine:
    """A private copy of the seeded store in `directory` (created if need be)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "store.db"
    shutil.copyfile(template(), path)
    return make_engine(f"sqlite:///{path}")


def records(engine: Engine, *, users: list[str], orders: list[str]) -> dict[str, Any]:
    """The named users' and orders' records, to compare before and after an attempt."""
    with transaction(engine) as session:
        return snapshot(session, users=users, orders=orders, products=[])


def call(engine: Engine, name: str, arguments: dict[str, Any], customer_id: str | None) -> Any:
    """One operation by its τ² name, in its own transaction (rolled back if it raises)."""
    with transaction(engine) as session:
        return operation(name)(session, arguments, customer_id=customer_id)


def owner_records(engine: Engine) -> dict[str, Any]:
    return records(engine, users=[OWNER], orders=[PENDING, DELIVERED, PAID_BY_GIFT_CARD])

"""Faults inside writes: an exception at each step, or the writing process killed mid-write.

Afterwards the store is fully as before (never between), and a retry with the same idempotency
key completes the write exactly once. The steps are discovered by running each write once with a
recording injector, so a new step in an operation is covered without editing this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select

from shop import faults
from shop.db import Base, transaction
from tests.gateway_support import WRITE_CALLS, approval_threshold, gift_card_balance, write
from tests.store_support import GIFT_CARD, OWNER, fresh_store, owner_records

ROOT = Path(__file__).resolve().parent.parent
KILLED = 97
NO_GATE = "1000000"  # every sample write executes at once (the gate has its own tests)


class InjectedFault(RuntimeError):
    pass


@cache
def checkpoints() -> list[tuple[str, str]]:
    """(write, checkpoint) for every step each sample write passes through."""
    found: list[tuple[str, str]] = []
    with approval_threshold(NO_GATE), tempfile.TemporaryDirectory() as directory:
        for action in WRITE_CALLS:
            engine = fresh_store(Path(directory))
            seen: list[str] = []
            with faults.inject(seen.append):
                assert write(engine, action).status == "ok", action
            engine.dispose()
            found += [(action, name) for name in dict.fromkeys(seen)]
    return found


def state(engine: Engine) -> dict[str, Any]:
    """The sample writes' records in full, and the size of every table (a stray row anywhere
    would show). The audit log is left out: failed attempts are logged by design. Tables that
    other packages registered on `Base` after this store was created are not in it."""
    present = set(inspect(engine).get_table_names())
    with transaction(engine) as session:
        sizes = {
            name: session.scalar(select(func.count()).select_from(table))
            for name, table in Base.metadata.tables.items()
            if name != "audit_log" and name in present
        }
    return {"records": owner_records(engine), "sizes": sizes}


@cache
def expected_after(action: str) -> dict[str, Any]:
    """The state a fault-free write leads to (timestamps aside, they are not in `state`)."""
    with approval_threshold(NO_GATE), tempfile.TemporaryDirectory() as directory:
        engine = fresh_store(Path(directory))
        write(engine, action)
        after = state(engine)
        engine.dispose()
    return after


@pytest.fixture
def store(store):
    """The seeded store with every sample write executed at once (the gate has its own tests)."""
    with approval_threshold(NO_GATE):
        yield store


def test_every_write_has_steps_inside_its_transaction():
    steps = {action for action, name in checkpoints() if not name.startswith("gateway.")}
    assert steps == set(WRITE_CALLS)


@pytest.mark.parametrize(
    ("action", "checkpoint"), checkpoints(), ids=[f"{a}@{c}" for a, c in checkpoints()]
)
def test_an_exception_at_any_step_leaves_all_or_nothing(store, action, checkpoint):
    before = state(store)
    fired: list[str] = []

    def injector(name: str) -> None:
        if name == checkpoint:
            fired.append(name)
            raise InjectedFault(checkpoint)

    with faults.inject(injector):
        crashed = write(store, action)

    assert fired and crashed.error.kind == "internal"
    assert state(store) == before
    retried = write(store, action)
    assert retried.status == "ok" and not retried.replayed
    assert state(store) == expected_after(action)
    again = write(store, action)
    assert again.replayed and again.result == retried.result
    assert state(store) == expected_after(action)


CHILD = """
import os, sys
from shop import faults, gateway
from shop.db import make_engine
path, checkpoint, action, arguments = sys.argv[1], sys.argv[2], sys.argv[3], eval(sys.argv[4])
def kill(name):
    if name == checkpoint:
        os._exit({killed})
engine = make_engine(f"sqlite:///{{path}}")
with faults.inject(kill):
    gateway.execute(engine, customer_id={owner!r}, action=action, arguments=arguments,
                    idempotency_key="key-1", actor="test")
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "checkpoint",
    ["cancel_pending_order.refunds", "gateway.before_commit"],
)
def test_a_process_killed_mid_write_leaves_all_or_nothing(store, tmp_path, checkpoint):
    action = "cancel_pending_order"
    arguments = WRITE_CALLS[action]
    balance = gift_card_balance(store, GIFT_CARD)
    before = state(store)
    store.dispose()  # the child must find no connection of ours mid-transaction

    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD.format(killed=KILLED, owner=OWNER),
            str(tmp_path / "store.db"),
            checkpoint,
            action,
            repr(arguments),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "REFUND_APPROVAL_THRESHOLD": NO_GATE},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert child.returncode == KILLED, child.stderr
    assert state(store) == before
    retried = write(store, action)
    assert retried.status == "ok" and not retried.replayed
    assert write(store, action).replayed
    assert state(store) == expected_after(action)
    refunded = gift_card_balance(store, GIFT_CARD) - balance
    paid = sum(
        entry["amount"]
        for entry in retried.result["payment_history"]
        if entry["transaction_type"] == "refund" and entry["payment_method_id"] == GIFT_CARD
    )
    assert float(refunded) == pytest.approx(paid)  # credited once, not twice

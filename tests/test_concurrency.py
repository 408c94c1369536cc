"""Racing duplicates, in threads and in processes, produce exactly one effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.gateway_support import WRITE_CALLS, approval_threshold, gift_card_balance, write
from tests.store_support import GIFT_CARD, OWNER

ROOT = Path(__file__).resolve().parent.parent
NO_GATE = "1000000"
CANCEL = WRITE_CALLS["cancel_pending_order"]  # paid by GIFT_CARD: a double refund would show


@pytest.fixture
def store(store):
    """The seeded store with every sample write executed at once (the gate has its own tests)."""
    with approval_threshold(NO_GATE):
        yield store


def race(store, keys: list[str]):
    """Cancel the same order from one thread per key, all released at once."""
    start = threading.Barrier(len(keys))
    outcomes = []

    def customer(key: str) -> None:
        start.wait()
        outcomes.append(write(store, "cancel_pending_order", key=key))

    threads = [threading.Thread(target=customer, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def credited(store, balance) -> float:
    return float(gift_card_balance(store, GIFT_CARD) - balance)


def test_threads_racing_one_key_make_one_effect(store):
    balance = gift_card_balance(store, GIFT_CARD)

    outcomes = race(store, ["same"] * 6)

    assert all(o.status == "ok" for o in outcomes)
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({json.dumps(o.result, sort_keys=True) for o in outcomes}) == 1
    refund = outcomes[0].result["payment_history"][-1]
    assert refund["transaction_type"] == "refund"
    assert credited(store, balance) == pytest.approx(refund["amount"])


def test_threads_racing_the_same_cancellation_with_other_keys_make_one_effect(store):
    balance = gift_card_balance(store, GIFT_CARD)

    outcomes = race(store, [f"key-{n}" for n in range(6)])

    kinds = Counter(o.error.kind if o.error else o.status for o in outcomes)
    assert kinds == {"ok": 1, "invalid_status": 5}
    (done,) = [o for o in outcomes if o.status == "ok"]
    assert credited(store, balance) == pytest.approx(done.result["payment_history"][-1]["amount"])


CHILD = """
import json, sys, time
from pathlib import Path
from shop import gateway
from shop.db import make_engine
path, key, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
engine = make_engine(f"sqlite:///{path}")
engine.connect().close()  # be ready before the start signal
while not go.exists():
    time.sleep(0.005)
outcome = gateway.execute(engine, customer_id=%(owner)r, action="cancel_pending_order",
                          arguments=%(arguments)r, idempotency_key=key, actor="test")
print(outcome.model_dump_json())
"""


@pytest.mark.slow
def test_processes_racing_one_key_and_other_keys_make_one_effect(store, tmp_path):
    balance = gift_card_balance(store, GIFT_CARD)
    store.dispose()
    go = tmp_path / "go"
    script = CHILD % {"owner": OWNER, "arguments": CANCEL}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REFUND_APPROVAL_THRESHOLD": NO_GATE}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "store.db"), key, str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in ("same", "same", "same", "other")
    ]
    go.touch()
    results = [child.communicate(timeout=120) for child in children]
    outcomes = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]

    executed = [o for o in outcomes if o["status"] == "ok" and not o["replayed"]]
    assert len(executed) == 1, outcomes
    assert all(o["status"] == "ok" or o["error"]["kind"] == "invalid_status" for o in outcomes)
    refund = executed[0]["result"]["payment_history"][-1]["amount"]
    assert credited(store, balance) == pytest.approx(refund)

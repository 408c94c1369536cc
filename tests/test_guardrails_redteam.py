"""The red-team table (guardrails/data/redteam.yaml): every attack against the layer that must
stop it. `python -m evals redteam --flow` plays the chat rows through the whole assistant too."""

from __future__ import annotations

from collections import Counter

import pytest

from evals import redteam
from guardrails import injection_model

ATTACKS = redteam.load()


@pytest.fixture(scope="module", autouse=True)
def _detector(request):
    injection_model.detector(cache=request.config.cache.mkdir("injection-detector"))


def test_table_covers_every_kind_of_attack():
    counts = Counter(a.category for a in ATTACKS)
    assert len(ATTACKS) >= 150
    assert len({a.id for a in ATTACKS}) == len(ATTACKS)
    for category in (
        "direct_injection",
        "planted_document",
        "planted_product",
        "planted_order",
        "forged_id",
        "argument_tampering",
        "confirmation_spoof",
        "oversized",
        "binary",
        "loop",
        "output_leak",
    ):
        assert counts[category] >= 5, category


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
def test_attack_is_stopped(attack, request):
    needs_store = attack.expect == "allowed_store_refuses"
    store = request.getfixturevalue("store") if needs_store else None
    result = redteam.check(attack, store)
    assert not result.unauthorised, result
    assert not result.leaked, result
    assert result.held, f"{attack.holds}: {result.outcome}"

"""Conformance with τ²-bench's own tool implementation (`python -m evals conformance`)."""

from __future__ import annotations

import pytest

from evals import conformance


@pytest.mark.slow
def test_every_gold_replay_and_probe_conforms():
    outcomes = conformance.run()
    failures = {o.case.id: o.problems[:3] for o in outcomes if o.problems}
    assert not failures, conformance.summary(outcomes)
    assert len(outcomes) == 114 + 398


def _sabotaged(engine, customer_id, name, arguments):
    """A store that cancels with the wrong reason: conformance must notice."""
    if name == "cancel_pending_order":
        arguments = arguments | {"reason": "ordered by mistake"}
    return conformance.execute(engine, customer_id, name, arguments)


def test_a_store_that_differs_from_the_reference_fails():
    cases = [c for c in conformance.load_cases() if c.id in {"probe:0", "probe:23", "probe:90"}]
    outcomes = {o.case.id: o for o in conformance.run(cases, run=_sabotaged)}
    assert outcomes["probe:0"].problems  # recorded reason differs
    assert outcomes["probe:23"].problems  # an invalid reason was accepted
    assert not outcomes["probe:90"].problems  # other writes unaffected
    assert outcomes["probe:90"].case.deviations  # the multi-item defect, corrected


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Error: Order not found", "not_found"),
        ("Error: Number of 4202497723 not found.", "not_found"),
        ("Error: New item 6401214406 not found or available", "unavailable"),
        ("Error: Non-pending order cannot be cancelled", "invalid_status"),
        ("Error: Insufficient gift card balance to pay for the order", "payment_error"),
        ("Error: There should be exactly one payment for a pending order", "payment_error"),
        ("Error: The number of items to be exchanged should match.", "invalid_argument"),
        ("Error: Tool 'think' not found.", "invalid_argument"),
    ],
)
def test_reference_messages_map_to_our_error_kinds(message, kind):
    assert conformance.kind_of(message) == kind

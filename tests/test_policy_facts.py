"""The published policy documents state exactly what the store enforces (`shop.rules`)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest

from shop import rules

POLICIES = Path(__file__).resolve().parents[1] / "knowledge" / "policies"
PAYMENT_NAMES = {"gift_card": "gift card", "paypal": "PayPal", "credit_card": "credit card"}
DAYS_PATTERN = re.compile(r"(\d+)\s*(?:to|-|–)\s*(\d+)\s+business days", re.IGNORECASE)


def _text(name: str) -> str:
    return (POLICIES / f"{name}.md").read_text(encoding="utf-8")


def _section(name: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", _text(name), re.S | re.M)
    assert match, f"{name}.md has no section {heading!r}"
    return match.group(1)


def _money(amount: Decimal) -> str:
    return f"${amount:,.0f}" if amount == amount.to_integral() else f"${amount:,.2f}"


@pytest.fixture(autouse=True)
def _default_settings(data_dir):
    """The documents describe the default threshold; an operator's override is not theirs."""


def test_at_least_fifteen_documents():
    assert len(list(POLICIES.glob("*.md"))) >= 15


def test_cancel_reasons_are_exactly_the_accepted_ones():
    section = _section("cancellations", "Reasons we accept")
    listed = re.findall(r'^- "([^"]+)"', section, re.M)
    assert tuple(listed) == rules.CANCEL_REASONS


@pytest.mark.parametrize(
    ("name", "heading", "status"),
    [
        ("cancellations", "Which orders can be cancelled", rules.CANCELLABLE_STATUS),
        ("changing-a-pending-order", "What can be changed", rules.ITEMS_MODIFIABLE_STATUS),
        ("returns-and-refunds", "Which orders can be returned", rules.RETURNABLE_STATUS),
        ("exchanges", "Which orders can be exchanged", rules.EXCHANGEABLE_STATUS),
    ],
)
def test_each_action_names_the_status_it_needs(name, heading, status):
    assert f"**{status}**" in _section(name, heading)


def test_every_order_status_is_explained():
    text = _text("order-status")
    for status in get_args(rules.OrderStatus):
        # the τ² data spells one status "item modified"; the documents use the code's spelling
        assert f"**{status}**" in text, status


def test_refund_timing_everywhere_matches_the_rules():
    quoted = [
        (int(low), int(high))
        for path in POLICIES.glob("*.md")
        for low, high in DAYS_PATTERN.findall(path.read_text(encoding="utf-8"))
    ]
    assert len(quoted) >= 3
    assert set(quoted) == {rules.REFUND_BUSINESS_DAYS}


def test_accepted_payment_methods_are_the_store_sources():
    section = _section("payment-methods-and-gift-cards", "Accepted payment methods")
    listed = re.findall(r"^- (.+)$", section, re.M)
    expected = [PAYMENT_NAMES[source] for source in rules.PAYMENT_SOURCES]
    assert sorted(item.removesuffix(" account") for item in listed) == sorted(expected)


def test_large_refund_threshold_matches_the_setting():
    amounts = set(re.findall(r"\$[\d,]+(?:\.\d\d)?", _text("large-refund-approvals")))
    assert amounts == {_money(rules.refund_approval_threshold())}
    assert _money(rules.refund_approval_threshold()) in _text("returns-and-refunds")


def test_gift_card_refunds_are_immediate():
    for name in ("cancellations", "payment-methods-and-gift-cards", "returns-and-refunds"):
        assert re.search(r"gift card[^.]*immediate", _text(name), re.I), name

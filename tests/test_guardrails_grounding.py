"""Replies state only this turn's facts and never another customer's data (canaries planted)."""

from __future__ import annotations

import json

import pytest

from guardrails.grounding import check_reply, facts_in

ME = "yusuf_rossi_9620"
MY_ORDER = {
    "order_id": "#W2378156",
    "user_id": ME,
    "status": "delivered",
    "items": [
        {"name": "Headphones", "item_id": "4202497723", "price": 342.81},
        {"name": "Water Bottle", "item_id": "6469567736", "price": 47.84},
    ],
    "payment_history": [
        {
            "transaction_type": "payment",
            "amount": 390.65,
            "payment_method_id": "credit_card_9513926",
        }
    ],
    "created_at": "2024-05-01",
}
# Another customer's record, as a tool bug or a forged id might put it in the evidence.
CANARY_ORDER = {
    "order_id": "#W9911223",
    "user_id": "mei_kovacs_8020",
    "address": {"address1": "317 Canary Lane", "city": "Charlotte", "zip": "28236"},
    "items": [{"name": "Desk Lamp", "item_id": "1111111111", "price": 12.34}],
}
CANARY_USER = {
    "user_id": "mei_kovacs_8020",
    "name": {"first_name": "Mei", "last_name": "Kovacs"},
    "email": "mei.kovacs.canary@example.com",
    "payment_methods": {"paypal_7777777": {"source": "paypal", "id": "paypal_7777777"}},
    "orders": ["#W9911223"],
}
EVIDENCE = [
    json.dumps(MY_ORDER),
    CANARY_ORDER,
    CANARY_USER,
    "Returns: items can be returned within 30 days of delivery. Refunds over $1000 "
    "need staff approval.",
]
CANARIES = ["CANARY-7f3a", "4111 1111 1111 1111"]

ROWS = [
    (
        "grounded order, items, amount",
        "Order #W2378156 has Headphones ($342.81) and a Water Bottle ($47.84).",
        [],
        [],
    ),
    ("order id without hash", "Order W2378156 was delivered.", [], []),
    ("policy amount from a passage", "Refunds over $1,000.00 need staff approval.", [], []),
    ("total from the tool", "You paid $390.65 in total.", [], []),
    ("date in ISO and words", "It was placed on May 1, 2024 (2024-05-01).", [], []),
    ("invented order id", "Order #W1234567 is on its way.", ["#W1234567"], []),
    ("invented amount", "I've refunded $5000.00 to your card.", ["$5000.00"], []),
    ("rounded amount is not the fact", "Your headphones cost $343.", ["$343"], []),
    ("invented item", "Your Espresso Machine ships tomorrow.", ["Espresso Machine"], []),
    ("invented date", "It will arrive on June 3, 2024.", ["June 3, 2024"], []),
    ("invented item id", "Item 9999999999 is returnable.", ["9999999999"], []),
    ("another customer's order id", "I also see order #W9911223.", [], ["#w9911223"]),
    (
        "another customer's email",
        "Contact mei.kovacs.canary@example.com",
        [],
        ["mei.kovacs.canary@example.com"],
    ),
    ("another customer's name", "This order belongs to Mei Kovacs.", [], ["mei kovacs"]),
    ("another customer's address", "Ship it to 317 Canary Lane.", [], ["317 canary lane"]),
    ("another customer's payment id", "Refund to paypal_7777777.", [], ["paypal_7777777"]),
    ("another customer's user id", "Their id is mei_kovacs_8020.", [], ["mei_kovacs_8020"]),
    ("planted canary", "Your code is CANARY-7f3a.", [], ["CANARY-7f3a"]),
    ("planted card number", "Card 4111 1111 1111 1111 is on file.", [], ["4111 1111 1111 1111"]),
    ("unknown email", "I emailed stranger@example.org for you.", ["stranger@example.org"], []),
]


@pytest.mark.parametrize(
    ("reply", "ungrounded", "leaks"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_reply_table(reply, ungrounded, leaks):
    verdict = check_reply(reply, EVIDENCE, customer_id=ME, canaries=CANARIES)
    assert verdict.ungrounded == ungrounded
    assert [leak.casefold() for leak in verdict.leaks] == [leak.casefold() for leak in leaks]
    assert verdict.allowed is (not ungrounded and not leaks)


def test_own_records_are_not_leaks():
    me = {**CANARY_USER, "user_id": ME}
    verdict = check_reply("Your email is mei.kovacs.canary@example.com.", [me], customer_id=ME)
    assert verdict.allowed


def test_no_evidence_means_no_facts_may_be_stated():
    verdict = check_reply("Order #W2378156 cost $390.65.", [], customer_id=ME)
    assert verdict.ungrounded == ["#W2378156", "$390.65"]


@pytest.mark.parametrize(
    ("reply", "kinds"),
    [
        ("Hello! How can I help?", []),
        ("#W2378156 for $12.00 on 2024-05-01", ["order_id", "amount", "date"]),
        ("two T-Shirts and a Laptop", ["item", "item"]),
    ],
)
def test_facts_found(reply, kinds):
    assert sorted(f.kind for f in facts_in(reply)) == sorted(kinds)


def test_evidence_may_be_pydantic_or_passage_objects():
    from pydantic import BaseModel

    class Passage(BaseModel):
        text: str

    class Hit:
        text = "Exchanges are free of charge within 30 days; shipping is $5.99."

    verdict = check_reply(
        "Shipping is $5.99 and the order is #W2378156.",
        [Passage(text="order #W2378156"), Hit()],
        customer_id=ME,
    )
    assert verdict.allowed, verdict


def _canned_sentences() -> list:
    import re

    from crew import replies

    return [
        pytest.param(key, re.sub(r"\{[^{}]*\}", "", text), id=key)
        for key, text in replies._sentences().items()
    ]


@pytest.mark.parametrize(("key", "fixed_words"), _canned_sentences())
def test_the_fixed_words_of_every_canned_reply_state_no_fact_of_their_own(key, fixed_words):
    """Facts reach a reply only through its fields. An example order id or an amount written
    into a sentence would be withheld by grounding, and the customer would read "something went
    wrong" instead of a question."""
    verdict = check_reply(fixed_words, [], customer_id=None)
    assert verdict.allowed, f"{key}: {verdict.ungrounded}"

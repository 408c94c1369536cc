"""Splitting a message into its requests, in the customer's order, and the exact reply rules."""

from __future__ import annotations

import pytest

from crew.intent import rules
from crew.intent.splitter import split


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        (
            "can you first recommend a similar one in green, then return the blue shirt",
            ["can you first recommend a similar one in green", "return the blue shirt"],
        ),
        (
            "Return the blue shirt, but first recommend a green one",
            ["recommend a green one", "Return the blue shirt"],
        ),
        (
            "I want to return the blue shirt from my last order, but can you first recommend"
            " a similar one that comes in green?",
            [
                "can you first recommend a similar one that comes in green?",
                "I want to return the blue shirt from my last order",
            ],
        ),
        (
            "cancel order #W1234567 but could you please first check where it is",
            ["could you please first check where it is", "cancel order #W1234567"],
        ),
        (
            "cancel #W1234567. After that, tell me where #W7654321 is",
            ["cancel #W1234567.", "tell me where #W7654321 is"],
        ),
        (
            "Exchange the shoes. Before that, check the status of my order",
            ["check the status of my order", "Exchange the shoes."],
        ),
        ("cancel it after you check the status", ["check the status", "cancel it"]),
        ("cancel it after checking the status", ["checking the status", "cancel it"]),
        ("Before you cancel it, check where it is", ["check where it is", "cancel it"]),
        (
            "return the headphones and then exchange the kettle, but first tell me the policy",
            ["tell me the policy", "return the headphones", "exchange the kettle"],
        ),
        (
            "cancel order #W1234567 and return the headphones",
            ["cancel order #W1234567", "return the headphones"],
        ),
        ("I want to return the shirt and the shoes", ["I want to return the shirt and the shoes"]),
        # a statement explains the request next to it; it is not a request of its own
        (
            "These earbuds are junk. I'm returning them.",
            ["These earbuds are junk. I'm returning them."],
        ),
        (
            "I got the 13 inch laptop, I'd like the 15 inch one",
            ["I got the 13 inch laptop I'd like the 15 inch one"],
        ),
        (
            "Can I return the shoes? They are too small.",
            ["Can I return the shoes? They are too small."],
        ),
        ("yes, refund to my credit card", ["yes", "refund to my credit card"]),
        (
            "Hi, I'm Yusuf Rossi, zip 19122. Where is my order?",
            ["Hi", "I'm Yusuf Rossi, zip 19122.", "Where is my order?"],
        ),
        ("", []),
    ],
)
def test_split_in_the_order_wanted(text, segments):
    assert split(text) == segments


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("yes", "affirm"),
        ("Yes!", "affirm"),
        ("OK, go ahead", "affirm"),
        ("👍", "affirm"),
        ("nope.", "deny"),
        ("No thanks", "deny"),
        ("never mind", "deny"),
        ("yes I want the red one", None),
        ("no idea where my order is", None),
        ("hmm", None),
    ],
)
def test_short_replies(text, label):
    assert rules.reply(text) == label


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("I'm Yusuf Rossi, zip 19122.", True),
        ("my email is yusuf@example.com", True),
        ("#W2378156", True),
        ("order id W2378156", True),
        ("where is #W2378156", False),
        ("return the shirt, zip 19122", False),
        ("hello", False),
    ],
)
def test_identification_only(text, only):
    assert rules.identification_only(text) is only

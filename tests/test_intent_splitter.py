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


@pytest.mark.parametrize(
    ("text", "label", "counterpart"),
    [
        ("swap the size on the order I just placed", "exchange_items", "modify_order"),
        ("the lamp I ordered (not shipped), a different colour", "exchange_items", "modify_order"),
        ("exchange the boots in my open order for a 10", "exchange_items", "modify_order"),
        ("it hasn't shipped yet, trade it for the black one", "exchange_items", "modify_order"),
        ("nothing has shipped, I want the large instead", "exchange_items", "modify_order"),
        ("my order is still pending, I want to send it back", "return_items", "cancel_order"),
        ("swap the size on my pending order", "exchange_items", "modify_order"),
        ("exchange the shirt in my order, it hasn't shipped yet", "exchange_items", "modify_order"),
        ("return the lamp from my order that hasn't shipped", "return_items", "cancel_order"),
        ("return the mug before it ships", "return_items", "cancel_order"),
        ("the package hasn't been dispatched, return it", "return_items", "cancel_order"),
        ("my order is still processing, exchange the lamp", "exchange_items", "modify_order"),
        # something arrived: the customer may hold the item, the model's reading stands
        ("I received my pending order, exchange the shirt", "exchange_items", None),
        ("the boots arrived before it ships the rest, swap them", "exchange_items", None),
        # "pending" about something other than the order
        ("my refund is still pending, return the jacket", "return_items", None),
        ("exchange the shirt I got for a large", "exchange_items", None),
        # the customer has not sent something back: a return in progress, not an unshipped order
        ("I haven't sent the shoes back yet, can I still return them?", "return_items", None),
        (
            "I haven't sent back the boots yet. Can I still exchange them for a bigger size?",
            "exchange_items",
            None,
        ),
        ("it hasn't been shipped back yet, can I still return it", "return_items", None),
        # something other than the order has not been sent
        (
            "I want to return the lamp but the return label hasn't been sent to me",
            "return_items",
            None,
        ),
        ("I returned the boots and my refund hasn't been sent", "return_items", None),
        ("they haven't sent me a return label, return the lamp", "return_items", None),
        ("return the lamp, my refund is still pending", "return_items", None),
        # "just ordered" says nothing about shipping; time passed says it may have arrived
        ("I want to return the keyboard I just ordered", "return_items", None),
        (
            "I just ordered this jacket last month and the zipper broke, I want to return it",
            "return_items",
            None,
        ),
        ("it hasn't shipped but I ordered it two weeks ago, return it", "return_items", None),
        # only the delivered-only labels move
        ("cancel the order I just placed", "cancel_order", None),
        ("what's the exchange policy for an unshipped order", "policy_question", None),
    ],
)
def test_pending_counterpart(text, label, counterpart):
    assert rules.pending_counterpart(text, label) == counterpart


@pytest.mark.parametrize(
    ("previous", "segment", "reading"),
    [
        (
            "Can you check my gift card balance",
            "use it to pay my pending order?",
            "use the gift card to pay my pending order?",
        ),
        (
            "how much is on my PayPal?",
            "put that towards the order I just placed",
            "put the PayPal towards the order I just placed",
        ),
        # the segment does not pay with anything: its verb decides, "it" stays
        ("check my gift card balance", "cancel it", "cancel it"),
        # the segment names its own payment method
        ("check my gift card", "pay it with PayPal", "pay it with PayPal"),
        # two methods named before: which one "it" is, is not known
        ("compare my gift card and my PayPal", "use it for my order", "use it for my order"),
        # "that" followed by a noun is not a pronoun
        ("check my gift card", "put that one towards my order", "put that one towards my order"),
        ("check my store credit", "apply it to my order", "apply it to my order"),
        ("what is on my gift card?", "pay with it", "pay with the gift card"),
        ("check my store credit", "put it on #W1234567", "put the store credit on #W1234567"),
        ("check my PayPal", "use them for my purchase", "use the PayPal for my purchase"),
        # the pronoun is not what pays: it stays
        (
            "Change my payment method to my credit card.",
            "Then the espresso machine: how do I use it?",
            "Then the espresso machine: how do I use it?",
        ),
        (
            "Delete my saved PayPal.",
            "And the mug I got, can I use it in the dishwasher?",
            "And the mug I got, can I use it in the dishwasher?",
        ),
        (
            "Change my payment method to PayPal.",
            "can I return it and put the refund on my account?",
            "can I return it and put the refund on my account?",
        ),
        (
            "What's my store credit balance?",
            "Also I want to return the lamp and put it back in the box",
            "Also I want to return the lamp and put it back in the box",
        ),
        ("check my gift card", "can I put it on the shelf", "can I put it on the shelf"),
        ("check my gift card", "can I use it for gaming", "can I use it for gaming"),
        # a bare "card" is not a payment method
        ("I need a new graphics card.", "Can I use it for my order?", "Can I use it for my order?"),
        (None, "use it to pay my order", "use it to pay my order"),
    ],
)
def test_pronoun_takes_the_payment_method_named_before(previous, segment, reading):
    assert rules.with_referent(previous, segment) == reading

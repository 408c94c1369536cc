"""The router's few hand rules, all in one place.

Rules are used only where they are exact and a model would merely be likely right: one- or
two-word confirmations and refusals ("yes", "nope"), segments that carry nothing but
identification data ("I'm Yusuf Rossi, zip 19122"), which answer a question rather than ask,
an order said to be not yet shipped, which can be changed or cancelled but not exchanged or
returned ("swap the size on the order I just placed" asks to modify it), and the payment method
a pronoun stands for once the splitter has cut it off from the request that named it.
"""

from __future__ import annotations

import re

from crew.intent.entities import PAYMENT, full_name, without_identifiers
from crew.intent.models import Label

# A rule hit is exact, but still not certainty: the customer may be answering a question that
# was never asked; 0.99 leaves room for the flow to treat it like any confident prediction.
RULE_CONFIDENCE = 0.99


def _phrases(text: str) -> frozenset[str]:
    return frozenset(" ".join(p.split()) for p in text.split("|"))


_REPLIES: dict[Label, frozenset[str]] = {
    "affirm": _phrases(
        """yes | yes please | yes pls | yeah | yea | yah | ya | yep | yup | y | sure | sure thing
        | ok | okay | k | kk | okey | ok go ahead | okay go ahead | go ahead | go for it | do it
        | please do | yes do it | correct | confirm | confirmed | i confirm | sounds good
        | that's right | thats right | right | absolutely | of course | definitely | affirmative
        | yes that's right | yes correct | yes thanks | yes thank you | proceed | please proceed
        | alright | all right | perfect | si | oui | ja | 👍"""
    ),
    "deny": _phrases(
        """no | nope | nah | n | no thanks | no thank you | no thx | don't | dont | do not | stop
        | never mind | nevermind | nvm | cancel that | not now | negative | no way | not really
        | no don't | no dont | don't do that | dont do that | no stop | please don't
        | please dont | 👎"""
    ),
}
_NOISE = re.compile(r"[^\w\s'👍👎]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that may surround identification data without asking for anything.
_IDENTITY_FILLER = _words(
    """my name is i'm im i am this it's its here and the zip code zipcode postal postcode email
    e-mail address mail order id number no is are a of for me with it full first last account
    registered under"""
)


def reply(segment: str) -> Label | None:
    """`affirm` or `deny` when the whole segment is a stock short reply, else None."""
    key = " ".join(_NOISE.sub(" ", segment.lower()).split())
    for label, replies in _REPLIES.items():
        if key in replies:
            return label
    return None


def identification_only(segment: str) -> bool:
    """True when the segment only gives a name, email, zip or order id: nothing is asked."""
    rest = without_identifiers(segment).lower()
    name = full_name(segment, identifying=rest != segment.lower())
    for word in (name.first_name, name.last_name) if name else ():
        rest = re.sub(rf"\b{re.escape(word.lower())}\b", " ", rest)
    words = re.findall(r"[\w']+", rest)
    gave_something = bool(name) or rest != segment.lower()
    return gave_something and all(w in _IDENTITY_FILLER for w in words)


# Exchanges and returns are for delivered items (DESIGN.md "Intent labels"); for an order that has
# not shipped the same wish is a modification or a cancellation, whatever words it is put in.
_PENDING_COUNTERPART: dict[Label, Label] = {
    "exchange_items": "modify_order",
    "return_items": "cancel_order",
}
# The order itself must be what waits: "my refund is still pending", "the return label hasn't
# been sent", "I haven't sent the shoes back" are about a return, not an unshipped order. "Just
# ordered" is no sign either ("I just ordered it last month and the zipper broke").
_ORDER_NOUN = r"(?:order|package|parcel|shipment)"
# "It hasn't shipped" can only be the order; "it's still pending" may be the refund.
_ORDER = rf"(?:{_ORDER_NOUN}|it|they)"
_NOT_YET = (
    r"(?:hasn't|hasnt|has\s+not|haven't|havent|have\s+not|isn't|isnt|is\s+not|wasn't|wasnt"
    r"|was\s+not|aren't|arent|are\s+not|weren't|were\s+not)"
)
_UNSHIPPED = (
    r"(?:yet\s+)?(?:shipped|been\s+(?:shipped|sent|dispatched)|left|gone\s+out|dispatched)"
    r"(?![^.?!,;]*\bback\b)"  # "it hasn't been shipped back": the customer is returning it
)
_NOT_SHIPPED = re.compile(
    rf"\b(?:(?:pending|open|unshipped|not[-\s]yet[-\s]shipped)\s+order"
    rf"|{_ORDER_NOUN}(?:'s|\s+(?:that's|that\s+is|which\s+is|is|are))"
    rf"\s+(?:still\s+)?(?:pending|processing)"
    rf"|{_ORDER}\s+(?:(?:that|which)\s+)?{_NOT_YET}\s+{_UNSHIPPED}"
    rf"|nothing\s+has\s+(?:been\s+)?(?:shipped|sent|dispatched|gone\s+out)"
    rf"|not\s+(?:yet\s+)?shipped(?=\s*\))|unshipped"  # "the lamp (not shipped)"
    rf"|before\s+(?:it|they|the\s+order)\s+(?:ships?|goes\s+out|(?:is|are|gets?)\s+sent)"
    rf"|order\s+(?:I|we)\s+(?:only\s+)?just\s+placed)\b",
    re.I,
)
# Any word saying something arrived, or that time has passed, keeps the model's reading: the
# customer may hold the item.
_ARRIVED = re.compile(
    r"\b(?:received|receive|delivered|arrived|came|got|ago|last\s+(?:week|month|year))\b", re.I
)


def pending_counterpart(segment: str, label: Label) -> Label | None:
    """`modify_order` for an exchange (`cancel_order` for a return) of a not-yet-shipped order."""
    if label not in _PENDING_COUNTERPART or _ARRIVED.search(segment):
        return None
    return _PENDING_COUNTERPART[label] if _NOT_SHIPPED.search(segment) else None


# "Check my gift card balance and then use it to pay my pending order": split in two, the second
# request has lost what "it" is, and the payment method decides what it asks ("pay my order with
# my gift card" changes the order). Only a pronoun that pays is replaced: "how do I use it?",
# "can I use it in the dishwasher?", "put it back in the box", "put it on the shelf", "use it for
# gaming" are about something else.
_PAYING_PRONOUN = re.compile(
    r"\b(?:use|using|apply|applying|put|putting)\s+(?P<a>it|that|them)\s+"
    r"(?:to\s+pay|towards?|(?:for|on|against)\s+(?:\S+\s+){0,3}?"
    r"(?:orders?|purchases?|bill|total|balance|payment|#?W\d{7}))\b"
    r"|\bpay(?:ing)?\s+(?:with|using)\s+(?P<b>it|that|them)\b",
    re.I,
)
# A bare "card" may be any card ("a new graphics card"): only a named method is a referent.
_BARE_CARD = re.compile(r"cards?", re.I)


def with_referent(previous: str | None, segment: str) -> str:
    """`segment` with the pronoun it pays with replaced by the payment method `previous` named.

    Only for a segment that names no payment method, after one that names exactly one.
    """
    named = [
        m.group(0) for m in PAYMENT.finditer(previous or "") if not _BARE_CARD.fullmatch(m.group(0))
    ]
    if len({n.lower() for n in named}) != 1 or PAYMENT.search(segment):
        return segment
    pays = _PAYING_PRONOUN.search(segment)
    if not pays:
        return segment
    group = "a" if pays.group("a") else "b"
    return f"{segment[: pays.start(group)]}the {named[0]}{segment[pays.end(group) :]}"

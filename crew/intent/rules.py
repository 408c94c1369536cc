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
# "Pending" alone is not enough ("my refund is still pending"): the order must be the one waiting.
_NOT_SHIPPED = re.compile(
    r"\b(?:(?:pending|open|unshipped|not[-\s]yet[-\s]shipped)\s+order"
    r"|order\s+(?:that's|that\s+is|which\s+is|is)\s+(?:still\s+)?(?:pending|processing)"
    r"|(?:hasn't|hasnt|has\s+not|haven't|havent|have\s+not|isn't|isnt|is\s+not|wasn't|not"
    r"|nothing\s+has)"
    r"\s+(?:yet\s+)?(?:been\s+)?(?:shipped|sent|dispatched|gone\s+out)|unshipped"
    r"|before\s+(?:it|they|the\s+order)\s+(?:ships?|goes\s+out|(?:is|are|gets?)\s+sent)"
    r"|just\s+(?:placed|ordered|made))\b",
    re.I,
)
# Any word saying something arrived keeps the model's reading: the customer may hold the item.
_ARRIVED = re.compile(r"\b(?:received|receive|delivered|arrived|came|got)\b", re.I)


def pending_counterpart(segment: str, label: Label) -> Label | None:
    """`modify_order` for an exchange (`cancel_order` for a return) of a not-yet-shipped order."""
    if label not in _PENDING_COUNTERPART or _ARRIVED.search(segment):
        return None
    return _PENDING_COUNTERPART[label] if _NOT_SHIPPED.search(segment) else None


# "Check my gift card balance and then use it to pay my pending order": split in two, the second
# request has lost what "it" is, and the payment method decides what it asks ("pay my order with
# my gift card" changes the order). Only where the segment pays or uses something ("cancel it"
# after "check my gift card" still cancels), and only "that" followed by no noun is a pronoun.
_PAYS = re.compile(r"\b(?:pay|paying|use|using|put|apply|charge|bill|cover)\b", re.I)
_PRONOUN = re.compile(
    r"\b(?:it|them)\b|\bthat\b(?=\s*(?:$|[,.!?]|to\b|for\b|on\b|towards?\b|instead\b))",
    re.I,
)


def with_referent(previous: str | None, segment: str) -> str:
    """`segment` with its first pronoun replaced by the payment method `previous` named, if one.

    Only for a segment that pays with something but names no payment method, after one that
    names exactly one.
    """
    named = [m.group(0) for m in PAYMENT.finditer(previous or "")]
    if len({n.lower() for n in named}) != 1 or PAYMENT.search(segment) or not _PAYS.search(segment):
        return segment
    return _PRONOUN.sub(f"the {named[0]}", segment, count=1)

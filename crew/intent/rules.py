"""The router's few hand rules, all in one place.

Rules are used only where they are exact and a model would merely be likely right: one- or
two-word confirmations and refusals ("yes", "nope"), and segments that carry nothing but
identification data ("I'm Yusuf Rossi, zip 19122"), which answer a question rather than ask.
"""

from __future__ import annotations

import re

from crew.intent.entities import full_name, without_identifiers
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

"""Entities a customer gives in a message, typed: ids, contact data, names, products, options.

Everything here is deterministic (regexes and the live catalog's words): the flow checks what
it needs (an order id must exist and belong to the customer) with code, not with this module.
"""

from __future__ import annotations

import re

from crew.intent.catalog import Catalog, Found
from crew.intent.models import (
    CancelReason,
    Entities,
    FullName,
    PaymentMethod,
    ProductMention,
    Reference,
)

# "#W2378156", "W2378156", "order#W2378156," ...; a letter or digit right before is a longer id.
ORDER_ID = re.compile(r"(?<![A-Za-z0-9])#?[Ww](\d{7})(?!\d)")
# "order number 2378156": the W forgotten, but clearly an order id.
BARE_ORDER_ID = re.compile(r"\border\s*(?:id|number|no\.?|num|#)?\s*[:#]?\s*(\d{7})(?!\d)", re.I)
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# Five digits standing alone (ZIP+4 allowed), not part of an id, a price or a quantity.
ZIP = re.compile(r"(?<![\w#$.,@-])(\d{5})(?:-\d{4})?(?![\w@]|[.,]\d)")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NAME_WORD = r"[A-Za-z][A-Za-z'\-]+"
_NAME_TRIGGER_STRONG = re.compile(
    rf"\b(?:my\s+)?(?:full\s+)?name(?:'s|\s+is|\s*:|\s*-)?\s+({_NAME_WORD})\s+({_NAME_WORD})", re.I
)
_NAME_TRIGGER_WEAK = re.compile(
    rf"\b(?:i\s+am|i'm|i’m|im|this\s+is|it's|it’s)\s+({_NAME_WORD})\s+({_NAME_WORD})", re.I
)
_NOT_NAMES = _words(
    """a an the and or but so to of in on at for from with about as by is am are was were be
    been not no yes very really just also still here there this that it its my me i you we they
    looking trying wondering interested sorry back done ready happy angry upset going writing
    calling asking waiting hoping glad fine good great okay ok confused frustrated disappointed
    tired sure afraid new customer having getting unable wanting currently already
    thinking planning gonna wanna want need would like could can will please thanks thank hi
    hello hey order orders return exchange cancel refund item items on off out up down again
    now today tomorrow yesterday buying ordering contacting reaching following
    checking quite pretty kinda sort kind one two"""
)

PAYMENT = re.compile(
    r"(?P<gift_card>\bgift[\s-]*cards?\b|\bstore\s+credit\b)"
    r"|(?P<paypal>\bpay[\s-]*pal\b)"
    r"|(?P<credit_card>\b(?:credit|debit)[\s-]*cards?\b|\bvisa\b|\bmaster\s*card\b|\bamex\b"
    r"|\bamerican express\b|\bcards?\b)",
    re.I,
)
_CANCEL_REASONS: tuple[tuple[CancelReason, re.Pattern[str]], ...] = (
    (
        "ordered by mistake",
        re.compile(
            r"\bby (?:mistake|accident)|\bmistaken(?:ly)?\b|\baccidental(?:ly)?\b"
            r"|\bdidn'?t mean to (?:order|buy|place)|\bordered (?:it |them )?twice\b"
            r"|\bduplicate order\b|\bdouble[\s-]?ordered\b|\bordered the wrong\b|\bwrong order\b"
            r"|\bmis-?click",
            re.I,
        ),
    ),
    (
        "no longer needed",
        re.compile(
            r"\bno longer (?:need|want|require)|\bdon'?t (?:need|want) (?:it|them|this|that)"
            r"(?: any ?more)?\b|\bdo not need\b|\bchanged? (?:my|our) minds?\b|\bnot needed\b"
            r"|\bwon'?t need\b|\bfound (?:it|one|them) cheaper\b|\bnot necessary any ?more\b",
            re.I,
        ),
    ),
)

_WHICH = {
    "last": "last",
    "latest": "last",
    "most recent": "last",
    "recent": "last",
    "newest": "last",
    "previous": "previous",
    "earlier": "previous",
    "first": "first",
    "oldest": "first",
    "other": "other",
    "same": "same",
    "this": "this",
    "that": "this",
    "these": "all",
    "those": "all",
    "both": "all",
    "all": "all",
}
_ORDER_REFERENCE = re.compile(
    r"\b(?:my|the|that|this)\s+(?P<which>last|latest|most recent|recent|newest|previous|earlier"
    r"|first|oldest|other|same)\s+(?:orders?|purchases?|packages?|deliver(?:y|ies)|shipments?)\b"
    r"|\b(?P<this>this|that)\s+(?:orders?|purchases?|package|delivery|shipment)\b"
    r"|\b(?P<all>both|all(?: of)?(?: my)?|both of my)\s+orders\b",
    re.I,
)
_PRONOUN_REFERENCE = re.compile(
    r"\b(?:the\s+)?(?P<which>that|this|other|same|first|last|previous)\s+ones?\b"
    r"|\b(?P<all>both|all) of them\b"
    r"|\b(?:return|cancel|exchange|swap|track|change|modify|refund|send back|ship|keep|replace"
    r"|buy|get|check|upgrade)\s+(?P<object>it|them|those|these)\b",
    re.I,
)
# A product named with a determiner is a thing the customer already has in mind.
_ITEM_DETERMINER = re.compile(
    r"\b(?P<det>the|my|that|this|these|those|both|our)\s+(?:(?!and\b|or\b|to\b|a\b)[\w-]+\s+){0,3}$",
    re.I,
)


def extract(text: str, catalog: Catalog) -> Entities:
    products = catalog.find_products(text)
    options = catalog.find_options(text, products)
    emails = _unique(m.group(0).lower().rstrip(".") for m in EMAIL.finditer(text))
    zip_codes = _unique(m.group(1) for m in ZIP.finditer(_blank(EMAIL, text)))
    return Entities(
        order_ids=order_ids(text),
        emails=emails,
        zip_codes=zip_codes,
        name=full_name(text, identifying=bool(emails or zip_codes)),
        products=[p.mention for p in products if isinstance(p.mention, ProductMention)],
        options=[o.mention for o in options],  # type: ignore[misc]
        references=references(text, products),
        payment_methods=payment_methods(text),
        cancel_reason=cancel_reason(text),
    )


def order_ids(text: str) -> list[str]:
    hits = [(m.start(), m.group(1)) for m in ORDER_ID.finditer(text)]
    hits += [(m.start(1), m.group(1)) for m in BARE_ORDER_ID.finditer(text)]
    return _unique(f"#W{digits}" for _, digits in sorted(hits))


def full_name(text: str, identifying: bool = False) -> FullName | None:
    """A first and last name given to identify oneself ("I'm Yusuf Rossi", "my name is ...").

    After "I'm"/"this is" the words must look like a name (capitalised), unless the message
    also carries an email or zip code: then it is clearly identification, typed lowercase.
    """
    for pattern, strong in ((_NAME_TRIGGER_STRONG, True), (_NAME_TRIGGER_WEAK, False)):
        for match in pattern.finditer(text):
            first, last = match.group(1), match.group(2)
            if {first.lower(), last.lower()} & _NOT_NAMES:
                continue
            if not (strong or identifying or (first[0].isupper() and last[0].isupper())):
                continue
            return FullName(first_name=_name_case(first), last_name=_name_case(last))
    return None


def payment_methods(text: str) -> list[PaymentMethod]:
    return _unique(m.lastgroup for m in PAYMENT.finditer(text) if m.lastgroup)  # type: ignore[misc]


def cancel_reason(text: str) -> CancelReason | None:
    for reason, pattern in _CANCEL_REASONS:
        if pattern.search(text):
            return reason
    return None


def references(text: str, products: list[Found]) -> list[Reference]:
    found: list[tuple[int, Reference]] = []
    for m in _ORDER_REFERENCE.finditer(text):
        word = (m.group("which") or m.group("this") or "all").lower().split()[0]
        which = _WHICH.get("most recent" if word == "most" else word, "all")
        found.append((m.start(), Reference(text=m.group(0), target="order", which=which)))
    for p in products:
        det = _ITEM_DETERMINER.search(text, 0, p.start)
        if det:
            span = text[det.start() : p.end]
            which = _which_in(span)
            found.append((det.start(), Reference(text=span, target="item", which=which)))
    for m in _PRONOUN_REFERENCE.finditer(text):
        if any(start <= m.start() < start + len(r.text) for start, r in found):
            continue
        word = m.group("which") or m.group("all") or ""
        which = _WHICH.get(word.lower()) if word else _which_in(m.group("object") or "")
        start = m.start("object") if m.group("object") else m.start()
        found.append((start, Reference(text=text[start : m.end()], target="unknown", which=which)))
    return [r for _, r in sorted(found, key=lambda f: f[0])]


def _which_in(span: str):  # -> the Reference.which literal
    for word in re.findall(r"[a-z]+", span.lower()):
        if word in _WHICH and word not in {"these", "those"}:
            return _WHICH[word]
    return "all" if re.search(r"\b(?:these|those|them)\b", span, re.I) else None


def _name_case(word: str) -> str:
    return word if any(c.isupper() for c in word[1:]) else word[:1].upper() + word[1:].lower()


def _blank(pattern: re.Pattern[str], text: str) -> str:
    """`text` with the pattern's hits replaced by spaces (same length: offsets stay valid)."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def without_identifiers(text: str) -> str:
    """`text` with every order id, email and zip code blanked out."""
    for pattern in (EMAIL, ORDER_ID, BARE_ORDER_ID, ZIP):
        text = _blank(pattern, text)
    return text


def _unique(items) -> list:
    return list(dict.fromkeys(items))

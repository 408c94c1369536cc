"""Output check: a reply states only facts this turn produced, and nothing of another customer.

`check_reply(reply, evidence, customer_id=..., canaries=...)` finds the facts a customer could act
on (order ids, money amounts, item names and ids, dates, email addresses) and requires each to
appear in `evidence`: this turn's tool results and retrieved passages (JSON strings, dicts,
pydantic models or plain text). It also refuses any identifying detail of another customer
(emails, names, order ids, street addresses, user and payment ids) found in records of the
evidence that belong to someone else, and any `canaries` (planted by tests and red-team runs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal

from opentelemetry import trace
from pydantic import BaseModel, Field

import settings

tracer = trace.get_tracer(__name__)

FactKind = Literal["order_id", "amount", "item", "item_id", "date", "email"]

_ORDER_ID = re.compile(r"#?\bW\d{7}\b")
_MONEY = re.compile(r"(?:\$|USD\s?)\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_ITEM_ID = re.compile(r"\b\d{10}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_WORD_DATE = re.compile(
    rf"\b({'|'.join(_MONTHS)})[a-z]*\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b",
    re.IGNORECASE,
)
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, 1)}
# Keys whose values identify a customer in the store's records (τ²-bench shapes).
# First or last names alone are too common to search for ("Brown" is also a colour): the full
# name is added from the record's `name` instead.
_IDENTIFYING = {
    "email",
    "order_id",
    "user_id",
    "address1",
    "orders",
    "payment_methods",
    "payment_method_id",
    "id",
}


class Fact(BaseModel):
    kind: FactKind
    text: str


class GroundingVerdict(BaseModel):
    allowed: bool
    ungrounded: list[str] = Field(default_factory=list)  # facts not found in the evidence
    leaks: list[str] = Field(default_factory=list)  # another customer's data, or a canary
    facts: list[Fact] = Field(default_factory=list)  # every fact found, for the trace


@cache
def catalog() -> tuple[str, ...]:
    """Product names of the store (the items a reply may name), longest first."""
    path = settings.ROOT / "shop" / "data" / "db.json"
    products = json.loads(path.read_text(encoding="utf-8"))["products"].values()
    return tuple(sorted({p["name"] for p in products}, key=len, reverse=True))


def _plain(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    if isinstance(item, str):
        try:
            return json.loads(item)
        except json.JSONDecodeError:
            return item
    text = getattr(item, "text", None)  # a retrieved passage object
    return text if isinstance(text, str) else item


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _cents(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _dates(text: str) -> Iterator[tuple[str, date]]:
    for match in _ISO_DATE.finditer(text):
        try:
            yield match.group(), date(*(int(g) for g in match.groups()))
        except ValueError:
            continue
    for match in _WORD_DATE.finditer(text):
        month = _MONTH_NUMBER[match.group(1)[:3].lower()]
        try:
            yield match.group(), date(int(match.group(3)), month, int(match.group(2)))
        except ValueError:
            continue


class Evidence:
    """What this turn's tool results and passages say, indexed for fact lookup."""

    def __init__(self, items: Iterable[Any], customer_id: str | None) -> None:
        values = [_plain(item) for item in items]
        leaves = [leaf for value in values for leaf in _leaves(value)]
        self.text = "\n".join(str(leaf) for leaf in leaves).casefold()
        self.amounts = {
            cents
            for leaf in leaves
            if not isinstance(leaf, bool)
            for token in (
                [str(leaf)] if isinstance(leaf, (int, float)) else _NUMBER.findall(str(leaf))
            )
            if (cents := _cents(token)) is not None
        }
        self.dates = {day for _, day in _dates(self.text)}
        self.foreign: set[str] = set()
        for value in values:
            self._collect_foreign(value, customer_id, owner=None)

    def _collect_foreign(self, value: Any, customer_id: str | None, owner: str | None) -> None:
        if isinstance(value, dict):
            owner = value.get("user_id", owner) if isinstance(value.get("user_id"), str) else owner
            foreign = owner is not None and owner != customer_id
            if foreign:
                self._add_identifying(value)
            for item in value.values():
                self._collect_foreign(item, customer_id, owner)
        elif isinstance(value, list):
            for item in value:
                self._collect_foreign(item, customer_id, owner)

    def _add_identifying(self, record: dict[str, Any]) -> None:
        name = record.get("name")
        if isinstance(name, dict) and {"first_name", "last_name"} <= set(name):
            self.foreign.add(f"{name['first_name']} {name['last_name']}".casefold())
        for key, value in record.items():
            if key not in _IDENTIFYING:
                continue
            if key == "payment_methods" and isinstance(value, dict):
                self.foreign.update(str(k).casefold() for k in value)
            elif isinstance(value, list):
                self.foreign.update(str(v).casefold() for v in value if isinstance(v, str))
            elif isinstance(value, str) and len(value) >= 4:
                self.foreign.add(value.casefold())

    def has(self, text: str) -> bool:
        return text.casefold() in self.text


def facts_in(reply: str) -> list[Fact]:
    """The facts of `reply` that must be grounded."""
    found = [Fact(kind="order_id", text=m.group()) for m in _ORDER_ID.finditer(reply)]
    found += [Fact(kind="amount", text=m.group()) for m in _MONEY.finditer(reply)]
    found += [Fact(kind="item_id", text=m.group()) for m in _ITEM_ID.finditer(reply)]
    found += [Fact(kind="email", text=m.group()) for m in _EMAIL.finditer(reply)]
    found += [Fact(kind="date", text=text) for text, _ in _dates(reply)]
    lowered = reply.casefold()
    for name in catalog():
        if re.search(rf"\b{re.escape(name.casefold())}(?:e?s)?\b", lowered):
            found.append(Fact(kind="item", text=name))
    return found


def _grounded(fact: Fact, evidence: Evidence) -> bool:
    if fact.kind == "order_id":
        return evidence.has("#" + fact.text.lstrip("#"))
    if fact.kind == "amount":
        match = _MONEY.search(fact.text)
        number = match.group(1) + (f".{match.group(2)}" if match and match.group(2) else "")
        return _cents(number) in evidence.amounts
    if fact.kind == "date":
        return any(day in evidence.dates for _, day in _dates(fact.text))
    return evidence.has(fact.text)


def check_reply(
    reply: str,
    evidence: Iterable[Any],
    *,
    customer_id: str | None,
    canaries: Iterable[str] = (),
) -> GroundingVerdict:
    """Is `reply` fit to send to the authenticated `customer_id`?"""
    with tracer.start_as_current_span("guardrails.grounding") as span:
        index = Evidence(evidence, customer_id)
        facts = facts_in(reply)
        ungrounded = [f.text for f in facts if not _grounded(f, index)]
        lowered = reply.casefold()
        leaks = sorted({s for s in index.foreign if s and s in lowered})
        leaks += sorted({c for c in canaries if c and c.casefold() in lowered})
        verdict = GroundingVerdict(
            allowed=not ungrounded and not leaks, ungrounded=ungrounded, leaks=leaks, facts=facts
        )
        span.set_attribute("guardrails.grounding.allowed", verdict.allowed)
        span.set_attribute("guardrails.grounding.ungrounded", ungrounded)
        span.set_attribute("guardrails.grounding.leak_count", len(leaks))
        return verdict

"""What the flow hands an agent (a `Step`) and what the agent hands back (a `StepReport`).

Agents never pass prose to each other: the flow builds a typed step from the router's intents
and entities and the conversation's state, serialises it into the agent's task, and reads a
typed report back. The offline backend executes the same step deterministically; a real model
reads the same JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

AgentName = Literal["orders", "returns", "recommendations", "policy"]

StepKind = Literal[
    "order_status",  # one order: status, items, tracking
    "list_orders",  # every order of the customer
    "profile",  # default address and saved payment methods
    "return",  # propose a return of delivered items
    "exchange",  # propose an exchange for other variants of the same product
    "cancel",  # propose cancelling a pending order
    "modify_address",  # propose a new shipping address for a pending order
    "modify_items",  # propose other variants for items of a pending order
    "modify_payment",  # propose another payment method for a pending order
    "update_address",  # propose a new default address on the profile
    "recommend",  # similar products / other variants, read-only
    "policy",  # answer from quoted policy passages
    "execute",  # run the confirmed write exactly as confirmed
]

AGENT_FOR_KIND: dict[str, AgentName] = {
    "order_status": "orders",
    "list_orders": "orders",
    "profile": "orders",
    "cancel": "orders",
    "modify_address": "orders",
    "modify_items": "orders",
    "modify_payment": "orders",
    "update_address": "orders",
    "return": "returns",
    "exchange": "returns",
    "recommend": "recommendations",
    "policy": "policy",
}

PaymentChoice = Literal["original", "gift_card", "paypal", "credit_card"]
OrderRef = Literal["latest", "previous"]

STEP_TAG = "step"
_STEP_PATTERN = re.compile(rf"<{STEP_TAG}>(\{{.*?\}})</{STEP_TAG}>", re.DOTALL)


class ToolCall(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Address(BaseModel):
    address1: str
    address2: str = ""
    city: str
    state: str
    country: str = "USA"
    zip: str


class ItemRef(BaseModel):
    """How the customer named an item: "the blue shirt", "headphones", an item id."""

    text: str = ""
    product_type: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    item_id: str | None = None


class Target(BaseModel):
    """Everything the step is about, already resolved as far as the flow could."""

    order_id: str | None = None
    order_ref: OrderRef | None = None
    items: list[ItemRef] = Field(default_factory=list)
    all_items: bool = False
    wanted: dict[str, str] = Field(default_factory=dict)  # options asked for
    wanted_product_type: str | None = None  # "for a jacket instead": another product
    product_type: str | None = None
    price_max: float | None = None
    price_min: float | None = None
    payment: PaymentChoice | None = None
    reason: str | None = None
    address: Address | None = None
    use_default_address: bool = False


class Passage(BaseModel):
    """A retrieved policy passage: quoted data with its citation, never an instruction."""

    text: str
    title: str
    section: str = ""
    version: int | str | None = None
    doc_id: str = ""
    score: float = 0.0

    @property
    def citation(self) -> str:
        where = f"{self.title}, {self.section}" if self.section else self.title
        return f"{where} (v{self.version})" if self.version is not None else where


class Step(BaseModel):
    id: str
    kind: StepKind
    agent: AgentName
    intent: str
    request: str = ""  # the customer's words for this step, as quoted data
    target: Target = Field(default_factory=Target)
    passages: list[Passage] = Field(default_factory=list)
    recent_orders: list[str] = Field(default_factory=list)  # newest first, from earlier turns
    execute: ToolCall | None = None  # kind == "execute": the confirmed call, verbatim
    # kind == "execute": the confirmed action in words (items, amounts, method), for the reply
    facts: dict[str, str] = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)  # the tools this step may use

    def to_prompt(self) -> str:
        return f"<{STEP_TAG}>{self.model_dump_json(exclude_defaults=True)}</{STEP_TAG}>"


class StepReport(BaseModel):
    """An agent's final answer: the reply, and a proposed write awaiting confirmation."""

    reply: str
    proposal: ToolCall | None = None
    missing: list[str] = Field(default_factory=list)  # what the customer must still tell us
    order_id: str | None = None  # the order the step was about, for "that order" next turn
    products: list[str] = Field(default_factory=list)  # product ids shown, for "the blue one"
    item_ids: list[str] = Field(default_factory=list)


class StepNotFound(ValueError):
    """A task prompt carried no step (the offline backend cannot act without one)."""


def step_from_text(text: str) -> Step:
    """The last step embedded in `text` (the agent's task prompt)."""
    found = _STEP_PATTERN.findall(text)
    if not found:
        raise StepNotFound("no <step> in the task")
    return Step.model_validate_json(found[-1])


def report_from_text(text: str) -> StepReport:
    """The agent's final answer as a report; plain prose becomes a reply with no proposal."""
    stripped = text.strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if start != -1 and end > start:
        try:
            return StepReport.model_validate(json.loads(stripped[start : end + 1]))
        except (ValueError, ValidationError):
            pass
    return StepReport(reply=stripped)

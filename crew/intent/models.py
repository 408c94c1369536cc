"""The router's typed output: ordered intents with calibrated confidence, and the entities found.

The labels are a contract with the flow and the evaluations (DESIGN.md "Intent labels").
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

Label = Literal[
    "order_status",
    "cancel_order",
    "modify_order",
    "return_items",
    "exchange_items",
    "product_search",
    "policy_question",
    "account",
    "human_agent",
    "smalltalk",
    "affirm",
    "deny",
    "out_of_scope",
]
LABELS: tuple[Label, ...] = get_args(Label)

PaymentMethod = Literal["gift_card", "paypal", "credit_card"]
CancelReason = Literal["no longer needed", "ordered by mistake"]


class IntentScore(BaseModel):
    label: Label
    confidence: float = Field(ge=0.0, le=1.0)
    segment: str = Field(default="", description="the part of the message that asked for it")


class FullName(BaseModel):
    first_name: str
    last_name: str

    @property
    def full(self) -> str:
        return f"{self.first_name} {self.last_name}"


class ProductMention(BaseModel):
    """A product type named in the message; a generic word ("camera") can fit several."""

    text: str
    names: list[str]
    product_ids: list[str]


class OptionMention(BaseModel):
    """An option value from the catalog ("navy", "XL", "1000ml"), under every option it fits."""

    text: str
    value: str
    options: list[str]


class Reference(BaseModel):
    """Words pointing at something from context: "my last order", "the blue shirt", "it"."""

    text: str
    target: Literal["order", "item", "unknown"]
    which: Literal["last", "first", "previous", "other", "same", "this", "all"] | None = None


class Entities(BaseModel):
    order_ids: list[str] = Field(default_factory=list, description='normalised to "#W1234567"')
    emails: list[str] = Field(default_factory=list)
    zip_codes: list[str] = Field(default_factory=list)
    name: FullName | None = None
    products: list[ProductMention] = Field(default_factory=list)
    options: list[OptionMention] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    payment_methods: list[PaymentMethod] = Field(default_factory=list)
    cancel_reason: CancelReason | None = None

    def is_empty(self) -> bool:
        return self == Entities()


class Classification(BaseModel):
    """Intents in the order the customer wants them done; empty means "ask what they meant"."""

    text: str
    intents: list[IntentScore] = Field(default_factory=list)
    entities: Entities = Field(default_factory=Entities)

    @property
    def intent(self) -> Label | None:
        """The first intent, or None when the router is not confident enough to name one."""
        return self.intents[0].label if self.intents else None

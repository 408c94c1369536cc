"""Argument schemas of the store tools: what a model may fill in, and nothing more.

No schema has a customer or user id: the customer comes from the bound `ToolContext`. Bounds on
lengths and list sizes refuse absurd input before it reaches the store, which checks the rest
(ids, statuses, ownership) and answers with its own specific errors.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shop import rules

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
OrderId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="The order id, such as '#W0000000' (with the leading '#')."),
]
ItemId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
PaymentMethodId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(
        description="A payment method id of the customer, such as 'gift_card_0000000' or "
        "'credit_card_0000000' (see the customer's or the order's details)."
    ),
]
ItemIds = Annotated[
    list[ItemId],
    Field(
        min_length=1,
        max_length=50,
        description="Item ids of the order, each such as '1008292230'; an item ordered twice "
        "may appear twice.",
    ),
]
CancelReason = Annotated[
    str,
    Field(
        json_schema_extra={"enum": list(rules.CANCEL_REASONS)},
        description="Exactly 'no longer needed' or 'ordered by mistake'.",
    ),
]


class Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unexpected field is an error, not ignored


class NoArguments(Arguments):
    pass


class Email(Arguments):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


class NameZip(Arguments):
    first_name: Text
    last_name: Text
    zip: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class OrderRef(Arguments):
    order_id: OrderId


class ProductRef(Arguments):
    product_id: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        Field(description="The product id, such as '6086499569' (not an item id)."),
    ]


class ItemRef(Arguments):
    item_id: Annotated[ItemId, Field(description="The item (variant) id, such as '1008292230'.")]


class VariantSearch(Arguments):
    product_id: Annotated[
        str | None,
        Field(max_length=64, description="Only variants of this product (10 digits)."),
    ] = None
    product_type: Annotated[
        str | None,
        Field(max_length=100, description="Only variants of this product type, e.g. 'T-Shirt'."),
    ] = None
    options: dict[Text, Text] | None = Field(
        default=None,
        max_length=10,
        description="Options every variant must have, e.g. {'color': 'blue', 'size': 'L'}.",
    )
    available_only: bool = True
    price_min: Annotated[float | None, Field(ge=0, le=1_000_000)] = None
    price_max: Annotated[float | None, Field(ge=0, le=1_000_000)] = None


class Cancel(Arguments):
    order_id: OrderId
    reason: CancelReason


class Address(Arguments):
    address1: Text
    address2: OptionalText = ""
    city: Text
    state: Text
    country: Text
    zip: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class OrderAddress(Address):
    order_id: OrderId


class OrderPayment(Arguments):
    order_id: OrderId
    payment_method_id: PaymentMethodId


class ItemChange(Arguments):
    order_id: OrderId
    item_ids: ItemIds
    new_item_ids: Annotated[
        list[ItemId],
        Field(
            min_length=1,
            max_length=50,
            description="The new item ids, position by position: each of the same product as "
            "the item at the same position of item_ids.",
        ),
    ]
    payment_method_id: PaymentMethodId


class Return(Arguments):
    order_id: OrderId
    item_ids: ItemIds
    payment_method_id: PaymentMethodId


class Handoff(Arguments):
    summary: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
        Field(description="A short summary of the customer's issue for the human agent."),
    ]

"""Every store operation by its τ²-bench tool name, for dispatch by name, and refund previews.

`READS[name]` / `WRITES[name]` are `Operation`s: call one with the model's arguments and the
customer context set by code, `WRITES["cancel_pending_order"](session, {"order_id": ..., "reason":
...}, customer_id=...)`. The arguments are checked against the operation's parameters (unknown
or missing ones are an `InvalidArgument`); τ²'s `user_id` argument is accepted only when it names
the signed-in customer, and otherwise answers exactly like an unknown customer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from shop import (
    calculator,
    catalog,
    customers,
    delivered,
    handoffs,
    orders,
    pending,
    rules,
    validate,
)
from shop.errors import InvalidArgument, NotFound, StoreError

Scope = Literal["read", "write"]
# Who the operation acts for: the signed-in customer, the customer named by a τ² `user_id`
# argument (which must be the signed-in one), nobody (identity lookups, the catalogue), or the
# conversation, signed in or not (asking for a person needs no sign-in).
Context = Literal["customer", "user_id", "none", "conversation"]
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Operation:
    name: str
    scope: Scope
    function: Callable[..., Any]
    context: Context = "customer"
    parameters: tuple[str, ...] = field(init=False)
    required: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        signature = inspect.signature(self.function).parameters.values()
        positional = [p for p in signature if p.kind is p.POSITIONAL_OR_KEYWORD][1:]  # session
        names = [p.name for p in positional] + (["user_id"] if self.context == "user_id" else [])
        required = {p.name for p in positional if p.default is p.empty}
        if self.context == "user_id":
            required.add("user_id")
        object.__setattr__(self, "parameters", tuple(names))
        object.__setattr__(self, "required", frozenset(required))

    def __call__(
        self,
        session: Session,
        arguments: Mapping[str, Any],
        *,
        customer_id: str | None,
        conversation_id: str | None = None,
    ) -> Any:
        if not isinstance(arguments, Mapping):
            raise InvalidArgument(f"{self.name} takes its arguments as a mapping.")
        unexpected = sorted(set(arguments) - set(self.parameters))
        if unexpected:
            raise InvalidArgument(f"{self.name} has no argument {unexpected[0]!r}.")
        missing = sorted(self.required - set(arguments))
        if missing:
            raise InvalidArgument(f"{self.name} needs the argument {missing[0]!r}.")
        kwargs = dict(arguments)
        if self.context == "user_id":
            named = validate.user_id(kwargs.pop("user_id"))
            if named != customer_id:
                raise NotFound(customers.NOT_FOUND)  # word for word an unknown customer
        if self.context == "none":
            return self.function(session, **kwargs)
        if self.context == "conversation":
            return self.function(
                session, **kwargs, customer_id=customer_id, conversation_id=conversation_id
            )
        return self.function(session, **kwargs, customer_id=orders.context(customer_id))


def _calculate(_session: Session, expression: str) -> str:
    return calculator.calculate(expression)


READS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("find_user_id_by_email", "read", customers.find_customer_by_email, "none"),
        Operation("find_user_id_by_name_zip", "read", customers.find_customer_by_name_zip, "none"),
        Operation("get_user_details", "read", customers.get_customer, "user_id"),
        Operation("get_order_details", "read", orders.get_order),
        Operation("list_orders", "read", orders.list_orders),
        Operation("get_product_details", "read", catalog.get_product, "none"),
        Operation("get_item_details", "read", catalog.get_variant, "none"),
        Operation("list_all_product_types", "read", catalog.list_product_types, "none"),
        Operation("search_variants", "read", catalog.search_variants, "none"),
        Operation("calculate", "read", _calculate, "none"),
    )
}

WRITES: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("cancel_pending_order", "write", pending.cancel_pending_order),
        Operation("modify_pending_order_address", "write", pending.modify_pending_order_address),
        Operation("modify_pending_order_payment", "write", pending.modify_pending_order_payment),
        Operation("modify_pending_order_items", "write", pending.modify_pending_order_items),
        Operation("modify_user_address", "write", customers.modify_user_address, "user_id"),
        Operation("return_delivered_order_items", "write", delivered.return_delivered_order_items),
        Operation(
            "exchange_delivered_order_items", "write", delivered.exchange_delivered_order_items
        ),
        Operation(
            "transfer_to_human_agents",
            "write",
            handoffs.transfer_to_human_agents,
            "conversation",
        ),
    )
}

OPERATIONS: dict[str, Operation] = READS | WRITES


def operation(name: str) -> Operation:
    """The operation called `name`, or an `InvalidArgument` naming the unknown tool."""
    found = OPERATIONS.get(name) if isinstance(name, str) else None
    if found is None:
        raise InvalidArgument(f"There is no operation called {str(name)[:64]!r}.")
    return found


def refund_preview(
    session: Session, name: str, arguments: Mapping[str, Any], *, customer_id: str
) -> Decimal:
    """The money the write `name` would pay back to the customer, computed without changing
    anything: a cancellation refunds what is net paid, a return the returned items' prices, an
    exchange or item change the price difference when the new items cost less; else 0.

    A request the write would refuse previews as 0: the write itself then gives its error, with
    its own order of checks (and someone else's order reveals nothing here either)."""
    operation(name)
    try:
        return _preview(session, name, arguments, customer_id)
    except StoreError:
        return ZERO


# The status each refunding write requires (its first check after finding the order).
REQUIRED_STATUS = {
    "cancel_pending_order": rules.CANCELLABLE_STATUS,
    "return_delivered_order_items": rules.RETURNABLE_STATUS,
    "exchange_delivered_order_items": rules.EXCHANGEABLE_STATUS,
    "modify_pending_order_items": rules.ITEMS_MODIFIABLE_STATUS,
}


def _preview(
    session: Session, name: str, arguments: Mapping[str, Any], customer_id: str
) -> Decimal:
    if name not in REQUIRED_STATUS:
        return ZERO
    order = orders.load(session, arguments.get("order_id"), customer_id)
    if order.status != REQUIRED_STATUS[name]:
        return ZERO
    if name == "cancel_pending_order":
        # A reason the store refuses must not park the request for a staff decision first.
        pending.check_cancel_reason(validate.text(arguments.get("reason"), "reason", max_length=40))
        return sum(pending.net_paid(order).values(), ZERO)
    item_ids = validate.item_ids(arguments.get("item_ids"), "item_ids")
    if name == "return_delivered_order_items":
        orders.check_items_in_order(order, item_ids)
        return sum((line.price for line in orders.pair_lines(order, item_ids)), ZERO)
    new_item_ids = validate.item_ids(
        arguments.get("new_item_ids"), "new_item_ids", allow_empty=True
    )
    lines, variants = orders.swaps(session, order, item_ids, new_item_ids)
    return max(-orders.price_difference(lines, variants), ZERO)

"""The store's tools for CrewAI agents: one per operation, bound to a conversation by code.

`build_tools(context, names)` gives an agent exactly the tools it is allowed (least privilege:
agents choose by name, `TOOL_SCOPES` says which are reads and which are writes). Each tool's
customer, conversation and confirmed action come from the `ToolContext`, never from the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel

from crew.tools import schemas
from crew.tools.base import ReadTool, Scope, StoreTool, WriteTool
from crew.tools.context import Confirmation, ToolContext

__all__ = [
    "TOOL_SCOPES",
    "Confirmation",
    "ToolContext",
    "UnknownTool",
    "build_tools",
]

DESCRIPTIONS = Path(__file__).with_name("descriptions.yaml")


@dataclass(frozen=True)
class Spec:
    scope: Scope
    schema: type[BaseModel]
    bound: frozenset[str] = frozenset()  # filled from the context (τ²'s user_id)
    needs_customer: bool = True


_USER = frozenset({"user_id"})

SPECS: dict[str, Spec] = {
    "find_user_id_by_email": Spec("read", schemas.Email, needs_customer=False),
    "find_user_id_by_name_zip": Spec("read", schemas.NameZip, needs_customer=False),
    "get_user_details": Spec("read", schemas.NoArguments, bound=_USER),
    "get_order_details": Spec("read", schemas.OrderRef),
    "list_orders": Spec("read", schemas.NoArguments),
    "get_product_details": Spec("read", schemas.ProductRef),
    "get_item_details": Spec("read", schemas.ItemRef),
    "list_all_product_types": Spec("read", schemas.NoArguments),
    "search_variants": Spec("read", schemas.VariantSearch),
    "cancel_pending_order": Spec("write", schemas.Cancel),
    "modify_pending_order_address": Spec("write", schemas.OrderAddress),
    "modify_pending_order_payment": Spec("write", schemas.OrderPayment),
    "modify_pending_order_items": Spec("write", schemas.ItemChange),
    "modify_user_address": Spec("write", schemas.Address, bound=_USER),
    "return_delivered_order_items": Spec("write", schemas.Return),
    "exchange_delivered_order_items": Spec("write", schemas.ItemChange),
    "transfer_to_human_agents": Spec("write", schemas.Handoff, needs_customer=False),
}

TOOL_SCOPES: dict[str, Scope] = {name: spec.scope for name, spec in SPECS.items()}


class UnknownTool(KeyError):
    """An agent asked for a tool that does not exist (a configuration error, caught early)."""


@cache
def descriptions() -> dict[str, str]:
    return yaml.safe_load(DESCRIPTIONS.read_text(encoding="utf-8"))


def build_tool(context: ToolContext, name: str) -> StoreTool:
    spec = SPECS.get(name)
    if spec is None:
        raise UnknownTool(name)
    kind = ReadTool if spec.scope == "read" else WriteTool
    return kind(
        name=name,
        description=descriptions()[name],
        args_schema=spec.schema,
        context=context,
        bound=spec.bound,
        needs_customer=spec.needs_customer,
    )


def build_tools(context: ToolContext, names: list[str] | tuple[str, ...]) -> list[StoreTool]:
    """The tools `names`, each bound to `context`, in the order asked."""
    return [build_tool(context, name) for name in names]

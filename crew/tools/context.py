"""What code binds into the tools: the store, the authenticated customer and the confirmed action.

A model fills a tool's arguments; it never fills these. The flow authenticates the customer and,
after the customer's explicit yes to a stated action, hands the tools that action as a
`Confirmation`: a write runs only if its call is exactly the confirmed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine


class Confirmation(BaseModel):
    """The pending action the customer said yes to. `token` is unique per pending action and
    becomes the write's idempotency key, so a confirmed write happens at most once."""

    model_config = ConfigDict(frozen=True)

    token: str = Field(min_length=8, max_length=200)
    action: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolContext:
    engine: Engine
    customer_id: str | None  # None until the flow has authenticated the customer
    conversation_id: str | None = None
    actor: str = ""  # who the audit log names; defaults to "customer:<id>"
    confirmation: Confirmation | None = None

    @property
    def who(self) -> str:
        return self.actor or (f"customer:{self.customer_id}" if self.customer_id else "anonymous")

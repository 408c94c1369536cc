"""A conversation's state, typed, and its table: any app replica can serve the next turn.

The state is loaded before a turn and saved after it, in the SQL database next to the store.
An unknown conversation id is an error (`UnknownConversation`), never a silently blank state,
and a save that lost a race with another replica is refused (`ConcurrentTurn`) instead of
overwriting the other turn's changes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON, DateTime, Engine, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from crew.plan import ItemRef, Step, ToolCall
from shop.db import Base, transaction

HISTORY_KEPT = 200  # messages; older ones stay in the trace, not in the state


class UnknownConversation(LookupError):
    """No conversation has this id (it was never started, or the id is wrong)."""


class ConcurrentTurn(RuntimeError):
    """Another turn of the same conversation saved first; this turn's changes were not saved."""


class PendingAction(BaseModel):
    """A write stated to the customer and awaiting their explicit yes."""

    token: str
    call: ToolCall
    summary: str
    facts: dict[str, str] = Field(default_factory=dict)
    step: Step  # the step that proposed it, to revise it ("to my gift card instead")


class WatchedApproval(BaseModel):
    approval_id: int
    summary: str


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    trace_id: str | None = None


class Usage(BaseModel):
    turns: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0


class ConversationState(BaseModel):
    conversation_id: str
    customer_id: str | None = None
    customer_name: str | None = None
    partial_name: tuple[str, str] | None = None  # name given, zip still missing
    partial_zip: str | None = None
    pending: PendingAction | None = None
    awaiting: Step | None = None  # a step that asked the customer for missing information
    queue: list[Step] = Field(default_factory=list)  # planned steps not run yet
    recent_orders: list[str] = Field(default_factory=list)  # newest first
    recent_products: list[str] = Field(default_factory=list)
    last_item: ItemRef | None = None  # "it", "the blue one"
    approvals: list[WatchedApproval] = Field(default_factory=list)
    handoff_ticket: int | None = None
    usage: Usage = Field(default_factory=Usage)
    history: list[Message] = Field(default_factory=list)

    def remember_order(self, order_id: str | None) -> None:
        if order_id:
            self.recent_orders = [order_id, *[o for o in self.recent_orders if o != order_id]][:5]

    def remember_products(self, product_ids: list[str]) -> None:
        kept = [p for p in self.recent_products if p not in product_ids]
        self.recent_products = [*product_ids, *kept][:5]

    def add_message(self, role: Literal["user", "assistant"], content: str, **extra: Any) -> None:
        self.history = [*self.history, Message(role=role, content=content, **extra)][-HISTORY_KEPT:]


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConversationStore:
    """Load and save conversation states; `version` guards against two replicas racing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        Base.metadata.create_all(engine, tables=[ConversationRow.__table__])

    def create(self, customer_id: str | None = None) -> ConversationState:
        state = ConversationState(conversation_id=uuid.uuid4().hex, customer_id=customer_id)
        now = datetime.now(UTC)
        with transaction(self.engine) as session:
            session.add(
                ConversationRow(
                    id=state.conversation_id,
                    customer_id=customer_id,
                    state=state.model_dump(mode="json"),
                    version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        return state

    def load(self, conversation_id: str) -> tuple[ConversationState, int]:
        """The state and the version it was read at (hand the version back to `save`)."""
        with transaction(self.engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None:
                raise UnknownConversation(conversation_id)
            return ConversationState.model_validate(row.state), row.version

    def save(self, state: ConversationState, version: int) -> int:
        with transaction(self.engine) as session:
            saved = session.execute(
                update(ConversationRow)
                .where(
                    ConversationRow.id == state.conversation_id,
                    ConversationRow.version == version,
                )
                .values(
                    state=state.model_dump(mode="json"),
                    customer_id=state.customer_id,
                    version=version + 1,
                    updated_at=datetime.now(UTC),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        if saved != 1:
            raise ConcurrentTurn(state.conversation_id)
        return version + 1

    def ids(self, customer_id: str | None = None) -> list[str]:
        with transaction(self.engine) as session:
            query = select(ConversationRow.id).order_by(ConversationRow.created_at)
            if customer_id is not None:
                query = query.where(ConversationRow.customer_id == customer_id)
            return list(session.scalars(query))

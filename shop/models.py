"""The store's tables: customers, payment methods, addresses, catalogue, orders, handoffs.

Money is `Numeric(12, 2)` and `Decimal` in code. Ids are the τ²-bench ids (strings), so an id a
customer reads in a reply is the id the store uses. Lists keep their order with a `position`
column, because the order of items and of the payment history is part of the record.

Order lines and payment-history entries keep the product, item and payment-method ids as plain
text rather than foreign keys: they are a record of what was sold and paid at the time, which
must survive a variant leaving the catalogue or a card leaving a profile.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    exc,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.db import Base

# SQLite stores NUMERIC without a decimal type; SQLAlchemy rounds values back to the column's
# scale (2), which is exactly the cents we store, and warns once per process about it.
warnings.filterwarnings("ignore", category=exc.SAWarning, message=".*Decimal objects natively.*")

Money = Numeric(12, 2, asdecimal=True)
ID = 64  # longest id we store (τ² ids are 9 to 30 characters)


class Address(Base):
    """A postal address: a customer's default one, or the one an order ships to (never shared)."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address1: Mapped[str] = mapped_column(String(100))
    address2: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(60))
    zip: Mapped[str] = mapped_column(String(20))


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), index=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))

    address: Mapped[Address] = relationship()
    payment_methods: Mapped[list[PaymentMethod]] = relationship(
        order_by="PaymentMethod.position", back_populates="customer"
    )
    orders: Mapped[list[Order]] = relationship(
        order_by="Order.customer_position", back_populates="customer"
    )


class PaymentMethod(Base):
    __tablename__ = "payment_methods"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))  # gift_card, credit_card, paypal
    brand: Mapped[str | None] = mapped_column(String(40))
    last_four: Mapped[str | None] = mapped_column(String(4))
    balance: Mapped[Decimal | None] = mapped_column(Money)  # gift cards only

    customer: Mapped[Customer] = relationship(back_populates="payment_methods")

    @property
    def is_gift_card(self) -> bool:
        return self.source == "gift_card"


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), index=True)

    variants: Mapped[list[Variant]] = relationship(
        order_by="Variant.position", back_populates="product"
    )


class Variant(Base):
    """A purchasable item: one combination of a product's options."""

    __tablename__ = "variants"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, str]] = mapped_column(JSON)
    available: Mapped[bool] = mapped_column(Boolean)
    price: Mapped[Decimal] = mapped_column(Money)

    product: Mapped[Product] = relationship(back_populates="variants")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    customer_position: Mapped[int] = mapped_column(Integer)  # place in the customer's list
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    status: Mapped[str] = mapped_column(String(40), index=True)
    # The seven optional τ² fields, set by the action that ended the order's normal course.
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    exchange_items: Mapped[list[str] | None] = mapped_column(JSON)
    exchange_new_items: Mapped[list[str] | None] = mapped_column(JSON)
    exchange_payment_method_id: Mapped[str | None] = mapped_column(String(ID))
    exchange_price_difference: Mapped[Decimal | None] = mapped_column(Money)
    return_items: Mapped[list[str] | None] = mapped_column(JSON)
    return_payment_method_id: Mapped[str | None] = mapped_column(String(ID))

    customer: Mapped[Customer] = relationship(back_populates="orders")
    address: Mapped[Address] = relationship()
    items: Mapped[list[OrderItem]] = relationship(
        order_by="OrderItem.position", back_populates="order"
    )
    fulfillments: Mapped[list[Fulfillment]] = relationship(order_by="Fulfillment.position")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.position")


class OrderItem(Base):
    """One line of an order: a snapshot of the variant as sold (see the module docstring)."""

    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    product_id: Mapped[str] = mapped_column(String(ID))
    item_id: Mapped[str] = mapped_column(String(ID))
    price: Mapped[Decimal] = mapped_column(Money)
    options: Mapped[dict[str, str]] = mapped_column(JSON)

    order: Mapped[Order] = relationship(back_populates="items")


class Fulfillment(Base):
    __tablename__ = "fulfillments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tracking_ids: Mapped[list[str]] = mapped_column(JSON)
    item_ids: Mapped[list[str]] = mapped_column(JSON)


class Payment(Base):
    """One entry of an order's payment history (a payment or a refund), in order."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    transaction_type: Mapped[str] = mapped_column(String(20))  # payment, refund
    amount: Mapped[Decimal] = mapped_column(Money)
    payment_method_id: Mapped[str] = mapped_column(String(ID))


class Handoff(Base):
    """A ticket for a human agent, opened by `transfer_to_human_agents`."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(100), index=True)
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)  # open, resolved
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(Text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.id,
            "customer_id": self.customer_id,
            "conversation_id": self.conversation_id,
            "summary": self.summary,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolution": self.resolution,
        }

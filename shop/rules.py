"""The store's business rules as named constants: the one place code, documents and tests read.

Source: the τ²-bench retail policy (`shop/data/policy.md`). The customer-facing policy documents
in `knowledge/policies/` state the same facts, and a test checks them against these values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import settings

OrderStatus = Literal[
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "pending (item modified)",
    "exchange requested",
    "return requested",
]

CANCEL_REASONS: tuple[str, ...] = ("no longer needed", "ordered by mistake")
PAYMENT_SOURCES: tuple[str, ...] = ("gift_card", "paypal", "credit_card")

# Which statuses allow which action (τ²-bench semantics, REFERENCE.md "Guards").
CANCELLABLE_STATUS = "pending"
ITEMS_MODIFIABLE_STATUS = "pending"
RETURNABLE_STATUS = "delivered"
EXCHANGEABLE_STATUS = "delivered"
# Address and payment of an order may change while its status still contains "pending".
ADDRESS_PAYMENT_MODIFIABLE_MARKER = "pending"

# Money that leaves the store by a card or PayPal arrives in this many business days; a gift
# card is credited at once.
REFUND_BUSINESS_DAYS = (5, 7)

CENT = Decimal("0.01")


def refund_approval_threshold() -> Decimal:
    """Refunds strictly above this wait for a staff decision (`REFUND_APPROVAL_THRESHOLD`)."""
    return settings.get().refund_approval_threshold

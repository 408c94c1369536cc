"""The store's errors: one class per kind, each with a message fit to show a customer.

Callers catch `StoreError` and read `kind` to decide (retry, ask again, hand off) and `message`
to tell the customer; nothing in a message reveals whether a record of another customer exists.
"""

from __future__ import annotations

from typing import ClassVar, Literal

ErrorKind = Literal[
    "not_found",  # no such record for this customer (also: someone else's, or a malformed id)
    "invalid_status",  # the order's status does not allow this action
    "invalid_argument",  # the request itself is wrong (types, lengths, values, rules)
    "payment_error",  # the payment method cannot be used this way
    "unavailable",  # the requested item is not available
]


class StoreError(Exception):
    kind: ClassVar[ErrorKind]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"error": self.kind, "message": self.message}


class NotFound(StoreError):
    kind = "not_found"


class InvalidStatus(StoreError):
    kind = "invalid_status"


class InvalidArgument(StoreError):
    kind = "invalid_argument"


class PaymentError(StoreError):
    kind = "payment_error"


class Unavailable(StoreError):
    kind = "unavailable"

"""Customers: finding who is talking (identity), their profile, their default address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shop import orders, validate
from shop.errors import NotFound
from shop.export import user_of
from shop.models import Address, Customer

NO_MATCH = "No customer matches these details."
NOT_FOUND = "This customer profile was not found."


def find_customer_by_email(session: Session, email: str) -> str:
    """The id of the customer with this email (case-insensitive, otherwise exact)."""
    email = validate.text(email, "email", max_length=validate.MAX_EMAIL, allow_empty=True)
    query = select(Customer.id).where(func.lower(Customer.email) == email.lower())
    return _first_match(session, query)


def find_customer_by_name_zip(session: Session, first_name: str, last_name: str, zip: str) -> str:
    """The id of the customer with this first and last name (case-insensitive) and exact zip."""
    first = validate.text(first_name, "first_name", max_length=validate.MAX_NAME, allow_empty=True)
    last = validate.text(last_name, "last_name", max_length=validate.MAX_NAME, allow_empty=True)
    zip = validate.text(zip, "zip", max_length=10, allow_empty=True)
    return _first_match(
        session,
        select(Customer.id)
        .join(Address, Customer.address_id == Address.id)
        .where(
            func.lower(Customer.first_name) == first.lower(),
            func.lower(Customer.last_name) == last.lower(),
            Address.zip == zip,
        ),
    )


def _first_match(session: Session, query: Select[tuple[str]]) -> str:
    """The first customer id `query` finds in profile order (τ²-bench answers with the first of
    several matches), or the one `NotFound` both identity lookups give."""
    found = session.scalars(query.order_by(Customer.position).limit(1)).first()
    if found is None:
        raise NotFound(NO_MATCH)
    return found


def load(session: Session, customer_id: Any, *, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.id == orders.context(customer_id))
    customer = session.scalars(orders.locked(query) if lock else query).one_or_none()
    if customer is None:
        raise NotFound(NOT_FOUND)
    return customer


def get_customer(session: Session, *, customer_id: str) -> dict[str, Any]:
    """The customer's profile in τ²-bench shape: name, address, email, payment methods, orders."""
    return user_of(load(session, customer_id))


def modify_user_address(
    session: Session,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
    *,
    customer_id: str,
) -> dict[str, Any]:
    """Change the customer's default address (orders keep the address they ship to)."""
    new = validate.address(address1, address2, city, state, country, zip)
    customer = load(session, customer_id, lock=True)
    orders.rewrite_address(session, customer.address_id, new, "modify_user_address")
    return user_of(customer)

"""The catalogue: products, their variants (items), and searching variants by options."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from shop import validate
from shop.errors import InvalidArgument, NotFound
from shop.export import product_record, products_of, variant_record
from shop.models import Product, Variant


def products(session: Session) -> dict[str, Any]:
    """Every product in `db.json` "products" shape (money as Decimal)."""
    return products_of(session)


def get_product(session: Session, product_id: str) -> dict[str, Any]:
    """A product with all its variants, available or not."""
    pid = validate.product_id(product_id)
    product = session.get(Product, pid)
    if product is None:
        raise NotFound(f"Product {pid} was not found.")
    return product_record(product, product.variants)


def get_variant(session: Session, item_id: str) -> dict[str, Any]:
    """One item (variant): its options, availability and price."""
    iid = validate.item_id(item_id)
    variant = session.get(Variant, iid)
    if variant is None:
        raise NotFound(f"Item {iid} was not found.")
    return variant_record(variant)


def list_product_types(session: Session) -> dict[str, str]:
    """Product name -> product id, sorted by name."""
    return dict(session.execute(select(Product.name, Product.id).order_by(Product.name)).all())


def _product_id_for(session: Session, product_type: Any) -> str:
    name = validate.text(product_type, "product_type", max_length=validate.MAX_NAME)
    found = session.scalars(
        select(Product.id).where(func.lower(Product.name) == name.strip().lower())
    ).first()
    if found is None:
        raise NotFound(f"There is no product type called {name.strip()!r}.")
    return found


def _matches(variant: Variant, wanted: dict[str, str]) -> bool:
    have = {key.lower(): str(value).lower() for key, value in variant.options.items()}
    return all(have.get(key.lower()) == value.lower() for key, value in wanted.items())


def search_variants(
    session: Session,
    product_id: str | None = None,
    product_type: str | None = None,
    options: dict[str, str] | None = None,
    available_only: bool = True,
    price_min: Decimal | float | str | None = None,
    price_max: Decimal | float | str | None = None,
) -> list[dict[str, Any]]:
    """Variants matching every given filter (option names and values case-insensitive), in
    catalogue order, each with its product's id and name."""
    wanted = validate.options(options) if options is not None else {}
    low = validate.amount(price_min, "price_min") if price_min is not None else None
    high = validate.amount(price_max, "price_max") if price_max is not None else None
    if low is not None and high is not None and low > high:
        raise InvalidArgument("price_min must not be above price_max.")
    if not isinstance(available_only, bool):
        raise InvalidArgument("available_only must be true or false.")
    query = select(Product).options(selectinload(Product.variants)).order_by(Product.position)
    if product_id is not None:
        query = query.where(Product.id == validate.product_id(product_id))
    if product_type is not None:
        query = query.where(Product.id == _product_id_for(session, product_type))
    return [
        {"product_id": product.id, "name": product.name} | variant_record(variant)
        for product in session.scalars(query)
        for variant in product.variants
        if (variant.available or not available_only)
        and (low is None or variant.price >= low)
        and (high is None or variant.price <= high)
        and _matches(variant, wanted)
    ]

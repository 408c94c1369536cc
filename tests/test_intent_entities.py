"""Entity extraction against the real catalog (shop/data/db.json): pure rules, no model."""

from __future__ import annotations

from pathlib import Path

import pytest

import settings
from crew.intent.catalog import Catalog
from crew.intent.entities import extract

DB_JSON = Path(settings.ROOT) / "shop" / "data" / "db.json"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_db_json(DB_JSON)


@pytest.mark.parametrize(
    ("text", "order_ids"),
    [
        ("Where is #W2378156?", ["#W2378156"]),
        ("orders (#W2378156),W1234567.", ["#W2378156", "#W1234567"]),
        ("order#W2378156; thanks", ["#W2378156"]),
        ("is it w2378156 or #W1234567?", ["#W2378156", "#W1234567"]),
        ("order number 2378156 please", ["#W2378156"]),
        ("#W2378156 and again #W2378156", ["#W2378156"]),
        ("#W23781567 has eight digits", []),
        ("XW2378156 is part of a longer code", []),
        ("item 1234567890", []),
    ],
)
def test_order_ids(catalog, text, order_ids):
    assert extract(text, catalog).order_ids == order_ids


@pytest.mark.parametrize(
    ("text", "zip_codes", "emails"),
    [
        ("zip 19122, email Yusuf.Rossi@Example.com.", ["19122"], ["yusuf.rossi@example.com"]),
        ("my zip is 19122-4401", ["19122"], []),
        ("a 20000mAh power bank", [], []),
        ("it cost $12345", [], []),
        ("order #W1912245 and item 1234567890", [], []),
        ("mail me at 19122@example.com", [], ["19122@example.com"]),
        ("zips 19122 and 80279", ["19122", "80279"], []),
    ],
)
def test_zip_codes_and_emails(catalog, text, zip_codes, emails):
    found = extract(text, catalog)
    assert (found.zip_codes, found.emails) == (zip_codes, emails)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, I'm Yusuf Rossi, zip 19122", "Yusuf Rossi"),
        ("my name is yusuf rossi", "Yusuf Rossi"),
        ("Name: Mei Ling Chen", "Mei Ling"),
        ("im yusuf rossi 19122", "Yusuf Rossi"),
        ("This is Noah Brown speaking", "Noah Brown"),
        ("im yusuf rossi", None),  # lowercase after "im" without zip/email: not sure enough
        ("I'm looking for shoes", None),
        ("I am very angry", None),
        ("I'm Yusuf", None),
    ],
)
def test_full_name(catalog, text, name):
    found = extract(text, catalog).name
    assert (found.full if found else None) == name


def _options(found) -> set[str]:
    return {o.value for o in found.options}


def _products(found) -> set[str]:
    return {n for p in found.products for n in p.names}


@pytest.mark.parametrize(
    ("text", "products", "options"),
    [
        ("the navy fleece jacket in XL", {"Fleece Jacket"}, {"navy", "XL"}),
        ("my son is in the navy", set(), set()),
        ("do you have it in navy?", set(), {"navy"}),
        ("a rose gold iphone with 128 gb", {"Smartphone"}, {"rose gold", "128GB"}),
        ("a rose for my wife", set(), set()),
        ("the gold one please", set(), {"gold"}),
        ("she won a gold medal", set(), set()),
        ("size M tees", {"T-Shirt"}, {"M"}),
        ("an M", set(), set()),
        ("a 1 litre bottle", {"Water Bottle"}, {"1L", "1 liter", "1000ml"}),
        ("13 inch laptop, 32gb ram", {"Laptop"}, {"13-inch", "32GB"}),
        ("kettles", {"Electric Kettle", "Tea Kettle"}, set()),
        (
            "a bike and a camera",
            {"Bicycle", "Action Camera", "Digital Camera", "Indoor Security Camera"},
            set(),
        ),
        ("grey hiking boots size 10", {"Hiking Boots"}, {"grey", "gray", "10"}),
        ("wireless earbuds", {"Wireless Earbuds"}, set()),
        ("I want to watch a movie", set(), set()),
        ("yes please", set(), set()),
        ("something in space gray", set(), {"space grey"}),
    ],
)
def test_products_and_options(catalog, text, products, options):
    found = extract(text, catalog)
    assert (_products(found), _options(found)) == (products, options)


@pytest.mark.parametrize(
    ("text", "references"),
    [
        ("where is my last order?", [("my last order", "order", "last")]),
        ("what about the previous purchase", [("the previous purchase", "order", "previous")]),
        ("return the blue shirt", [("the blue shirt", "item", None)]),
        ("return it", [("it", "unknown", None)]),
        ("I'll take that one", [("that one", "unknown", "this")]),
        ("exchange both of them", [("both of them", "unknown", "all")]),
        ("a green shirt", []),
    ],
)
def test_references(catalog, text, references):
    found = [(r.text, r.target, r.which) for r in extract(text, catalog).references]
    assert found == references


@pytest.mark.parametrize(
    ("text", "methods"),
    [
        ("refund to my gift card, not the credit card", ["gift_card", "credit_card"]),
        ("put it on my giftcard", ["gift_card"]),
        ("PayPal please", ["paypal"]),
        ("use my Visa", ["credit_card"]),
        ("where is my order", []),
    ],
)
def test_payment_methods(catalog, text, methods):
    assert extract(text, catalog).payment_methods == methods


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cancel it, I ordered it by mistake", "ordered by mistake"),
        ("accidentally ordered two", "ordered by mistake"),
        ("I don't need it anymore", "no longer needed"),
        ("changed my mind, cancel", "no longer needed"),
        ("cancel #W2378156", None),
    ],
)
def test_cancel_reason(catalog, text, reason):
    assert extract(text, catalog).cancel_reason == reason


def test_catalog_is_a_parameter():
    """A product the store adds is recognised from the live data, with its options."""
    products = {
        "1": {
            "name": "Canoe",
            "product_id": "1",
            "variants": {"9": {"item_id": "9", "options": {"color": "teal"}, "available": True}},
        }
    }
    found = extract("do you have teal canoes?", Catalog.from_products(products))
    assert (_products(found), _options(found)) == ({"Canoe"}, {"teal"})
    assert extract("do you have teal canoes?", Catalog.empty()).products == []

"""Intent & routing: which workflows a message asks for, in order, and the entities it gives.

router = Router.load(Catalog.from_products(products))
result = router.classify("first recommend a green one, then return the blue shirt")
[i.label for i in result.intents]  # ["product_search", "return_items"]
"""

from crew.intent.catalog import Catalog
from crew.intent.models import (
    LABELS,
    Classification,
    Entities,
    FullName,
    IntentScore,
    Label,
    OptionMention,
    ProductMention,
    Reference,
)
from crew.intent.router import THRESHOLD, Router

__all__ = [
    "LABELS",
    "THRESHOLD",
    "Catalog",
    "Classification",
    "Entities",
    "FullName",
    "IntentScore",
    "Label",
    "OptionMention",
    "ProductMention",
    "Reference",
    "Router",
]

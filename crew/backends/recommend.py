"""Recommendations for the offline planner: available variants ranked, each with its reason.

Ranking: the same product type first, then how many requested options match (every requested
option is required), then how many options it shares with the item the customer already has,
then price closeness (to that item, or to the middle of the asked price range). Only when the
same product has nothing that fits are other product types offered, said plainly and labelled
as different products. The step costs at most four model calls: the customer's item and the
catalogue side by side, the order, the product with its likeliest alternatives, the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from pydantic import BaseModel

from crew import replies
from crew.backends import planner
from crew.backends.planner import Finished, Lookup, _options_match
from crew.plan import ItemRef, Step, StepReport
from crew.replies import say

SHOWN = 3  # enough to choose from, short enough to read in a chat bubble
SIMILAR_TYPES = 3  # other product types considered when the same type has nothing that fits
SIMILARITY_FLOOR = 0.35  # below this, a product type is not "similar" (MiniLM cosine)


class Candidate(BaseModel):
    product_id: str
    name: str
    item_id: str
    options: dict[str, str]
    price: float
    same_type: bool
    shared: int  # options in common with the customer's item
    distance: float  # price distance to the reference price

    def rank(self) -> tuple[bool, int, float]:
        return (self.same_type, self.shared, -self.distance)


@cache
def _type_vectors(names: tuple[str, ...]) -> np.ndarray:
    from knowledge.embeddings import embed

    return embed(list(names))


def similar_types(name: str, names: list[str]) -> list[str]:
    """Other product types closest in meaning to `name` (T-Shirt -> Hoodie, Jacket...)."""
    others = tuple(sorted(n for n in names if n.lower() != name.lower()))
    if not others:
        return []
    vectors = _type_vectors((name, *others))
    scores = vectors[1:] @ vectors[0]
    order = np.argsort(-scores)
    return [others[i] for i in order[:SIMILAR_TYPES] if scores[i] >= SIMILARITY_FLOOR]


def _reference_item(step: Step, lookup: Lookup) -> dict[str, Any] | None:
    """The item the customer compares with ("a similar one" to the blue shirt they bought)."""
    target = step.target
    if not (target.items or target.order_id or target.order_ref):
        return None
    order = planner._order_for_step(step, lookup)
    return planner._matched_items(step, order)[0]


def _product_id(types: Mapping[str, str], name: str) -> str | None:
    for known, product_id in types.items():
        if known.lower() == name.lower() or planner._names_match(ItemRef(text=name), known):
            return product_id
    return None


def _candidates(
    product: Mapping[str, Any], step: Step, reference: Mapping[str, Any] | None, same_type: bool
) -> list[Candidate]:
    target = step.target
    kept = (reference or {}).get("options", {})
    anchor = _anchor_price(step, reference)
    found = []
    for variant in product.get("variants", {}).values():
        price = float(variant["price"])
        if not variant.get("available") or variant["item_id"] == (reference or {}).get("item_id"):
            continue
        if not _options_match(target.wanted, variant["options"]):
            continue
        if target.price_max is not None and price > target.price_max:
            continue
        if target.price_min is not None and price < target.price_min:
            continue
        found.append(
            Candidate(
                product_id=product["product_id"],
                name=product["name"],
                item_id=variant["item_id"],
                options=variant["options"],
                price=price,
                same_type=same_type,
                shared=sum(1 for k, v in variant["options"].items() if kept.get(k) == v),
                distance=abs(price - anchor) if anchor is not None else 0.0,
            )
        )
    return found


def _anchor_price(step: Step, reference: Mapping[str, Any] | None) -> float | None:
    if reference is not None:
        return float(reference["price"])
    low, high = step.target.price_min, step.target.price_max
    if low is not None and high is not None:
        return (low + high) / 2
    return high if high is not None else low


def reason(candidate: Candidate, step: Step, reference: Mapping[str, Any] | None) -> str:
    """Why this one: only facts read from the tool results (no computed price differences, which
    the grounding check could not find in the evidence)."""
    parts = []
    if not candidate.same_type:
        parts.append("a different product" + (f", not a {reference['name']}" if reference else ""))
    if step.target.wanted:
        parts.append(f"{replies.options_phrase(step.target.wanted)} as you asked")
    if reference is not None:
        same = [v for k, v in candidate.options.items() if reference["options"].get(k) == v]
        if same:
            parts.append(f"same {', '.join(same)} as yours")
        theirs = float(reference["price"])
        if abs(candidate.price - theirs) < 0.005:
            parts.append("same price as yours")
        else:
            word = "less" if candidate.price < theirs else "more"
            parts.append(f"costs {word} than yours ({replies.money(theirs)})")
    if step.target.price_max is not None:
        parts.append(f"under {replies.money(step.target.price_max)}")
    return "; ".join(parts) or "available now"


def _lines(best: list[Candidate], step: Step, reference: Mapping[str, Any] | None) -> list[str]:
    return [
        "- "
        + say(
            "recommend_line",
            name=candidate.name,
            options=replies.options_phrase(candidate.options),
            price=replies.money(candidate.price),
            reason=reason(candidate, step, reference),
        )
        for candidate in best
    ]


def _best_per_type(found: list[Candidate], type_order: list[str]) -> list[Candidate]:
    """Other product types: the best fit of each, the types in order of likeness."""
    best: dict[str, Candidate] = {}
    for candidate in sorted(found, key=Candidate.rank, reverse=True):
        best.setdefault(candidate.name, candidate)
    return sorted(best.values(), key=lambda c: type_order.index(c.name))[:SHOWN]


def recommend(step: Step, lookup: Lookup) -> StepReport:
    # The customer's item and the catalogue are independent reads: fetched side by side.
    reference, types = lookup.together(
        lambda: _reference_item(step, lookup), lambda: lookup.get("list_all_product_types")
    )
    name = step.target.product_type or (reference["name"] if reference else None)
    product_id = (reference or {}).get("product_id") or (name and _product_id(types, name))
    if not product_id:
        raise Finished(
            StepReport(reply=say("recommend_unknown_product", types=replies.join(sorted(types))))
        )
    type_name = next((n for n, pid in types.items() if pid == product_id), name or "")
    # With a required option the same product may not have it: its likeliest alternatives are
    # read in the same model turn, and shown only if the same product has nothing that fits.
    similar = similar_types(type_name, list(types)) if step.target.wanted else []
    product, *others = lookup.get_many(
        [lookup.call("get_product_details", product_id=product_id)]
        + [lookup.call("get_product_details", product_id=types[n]) for n in similar]
    )
    found = _candidates(product, step, reference, same_type=True)
    if found:
        best = sorted(found, key=Candidate.rank, reverse=True)[:SHOWN]
        head = say(
            "recommend_head",
            are="is" if len(best) == 1 else "are",
            count=len(best),
            product=product["name"],
            s="" if len(best) == 1 else "s",
        )
        return StepReport(
            reply="\n".join([head, *_lines(best, step, reference)]),
            products=[product["product_id"]],
            item_ids=[c.item_id for c in best],
        )
    wanted = replies.options_phrase(step.target.wanted)
    alternatives = [c for other in others for c in _candidates(other, step, reference, False)]
    if not alternatives:
        return StepReport(
            reply=say(
                "recommend_none",
                product=product["name"],
                wanted=f"in {wanted}" if wanted else "that fits",
                options=planner._variants_summary(product),
            ),
            products=[product["product_id"]],
        )
    best = _best_per_type(alternatives, similar)
    head = say("recommend_other_types", product=product["name"], wanted=wanted)
    return StepReport(
        reply="\n".join([head, *_lines(best, step, reference)]),
        products=[product["product_id"], *dict.fromkeys(c.product_id for c in best)],
        item_ids=[c.item_id for c in best],
    )


planner.register("recommend", recommend)

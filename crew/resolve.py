"""From the router's intents and entities to typed steps, resolving what the words point at.

"the blue shirt from my last order" becomes an item reference (product type T-Shirt, colour
blue) and an order reference (latest); "a similar one that comes in green" becomes wanted
options (colour green) about the item named elsewhere in the message or earlier in the
conversation. Options before a product noun describe the item the customer has; options after
"in", "to", "for", "instead"... describe what they want.
"""

from __future__ import annotations

import re
import uuid

from crew.intent.models import Entities, IntentScore
from crew.plan import AGENT_FOR_KIND, Address, ItemRef, Step, Target
from crew.state import ConversationState

KIND_FOR_INTENT = {
    "order_status": "order_status",
    "cancel_order": "cancel",
    "return_items": "return",
    "exchange_items": "exchange",
    "product_search": "recommend",
    "policy_question": "policy",
    "account": "profile",
}
_WANT_MARKERS = re.compile(
    r"\b(in|into|to|for|instead|prefer|want|wants|comes?|with|get|like)\b(\W+[a-z]+){0,2}\W*$",
    re.IGNORECASE,
)
_LIST = re.compile(r"\b(all|list|every|history)\b.*\border", re.IGNORECASE)
_ADDRESS = re.compile(
    r"(?P<address1>\d+\s+[A-Za-z0-9 .'-]+?),\s*"
    r"(?:(?P<address2>(?:apt|apartment|suite|unit|#)\s*[^,]+),\s*)?"
    r"(?P<city>[A-Za-z .'-]+?),\s*(?P<state>[A-Z]{2})\s*,?\s*(?P<zip>\d{5})"
    r"(?:\s*,?\s*(?P<country>USA|United States|US))?",
    re.IGNORECASE,
)
_PRICE_MAX = re.compile(
    r"(?:under|below|less than|max(?:imum)?|up to|cheaper than)\s*\$?\s*(\d+(?:\.\d+)?)", re.I
)
_PRICE_MIN = re.compile(r"(?:over|above|more than|at least)\s*\$?\s*(\d+(?:\.\d+)?)", re.I)
_ALL_ITEMS = re.compile(
    r"\b(everything|all (?:the |of the )?items|whole order|entire order|all of it)\b", re.I
)
_DEFAULT_ADDRESS = re.compile(
    r"\b(default|usual|my (?:home|own|profile) address|address on file)\b", re.I
)
_ORIGINAL = re.compile(r"\boriginal\b|\bsame (?:card|method|payment)\b", re.I)
_SIMILAR = re.compile(r"\b(similar|same|like (?:it|that|this|mine)|another one|one like)\b", re.I)


def parse_address(text: str) -> Address | None:
    match = _ADDRESS.search(text)
    if not match:
        return None
    parts = {k: (v or "").strip() for k, v in match.groupdict().items()}
    parts["country"] = "USA"
    parts["state"] = parts["state"].upper()
    return Address(**parts)


def _split_options(text: str, entities: Entities) -> tuple[dict[str, str], dict[str, str]]:
    """(options describing the customer's item, options they want)."""
    have: dict[str, str] = {}
    want: dict[str, str] = {}
    lowered = text.lower()
    for option in entities.options:
        key = option.options[0] if option.options else "option"
        at = lowered.find(option.text.lower())
        before = lowered[max(0, at - 30) : at] if at >= 0 else ""
        (want if _WANT_MARKERS.search(before) else have)[key] = option.value
    return have, want


def _item_refs(text: str, entities: Entities, have: dict[str, str]) -> list[ItemRef]:
    refs = []
    for product in entities.products:
        name = product.names[0] if len(product.names) == 1 else None
        refs.append(ItemRef(text=product.text, product_type=name, options=dict(have)))
    if not refs and have:
        refs.append(ItemRef(text=text, options=dict(have)))
    return refs


def _order_target(entities: Entities, state: ConversationState, target: Target) -> None:
    if entities.order_ids:
        target.order_id = entities.order_ids[0]
        return
    for reference in entities.references:
        if reference.target != "order":
            continue
        if reference.which in {"last", "first"} and reference.which == "last":
            target.order_ref = "latest"
        elif reference.which == "previous":
            target.order_ref = "previous"
        elif state.recent_orders:
            target.order_id = state.recent_orders[0]


def target_for(
    kind: str, text: str, entities: Entities, state: ConversationState, message_refs: list[ItemRef]
) -> Target:
    target = Target()
    _order_target(entities, state, target)
    have, want = _split_options(text, entities)
    refs = _item_refs(text, entities, have)
    if kind in {"exchange", "modify_items"}:
        # "exchange the blue shirt for a green one": the first product is the item they have.
        target.items = refs[:1]
        if len(entities.products) > 1:
            target.wanted_product_type = entities.products[1].names[0]
        target.wanted = want
    elif kind == "recommend":
        target.wanted = {**have, **want} if not refs else want
        if refs and not _SIMILAR.search(text):
            target.product_type = refs[0].product_type
            target.wanted = {**refs[0].options, **want}
        elif refs:
            target.items = refs[:1]
        elif _SIMILAR.search(text) and (message_refs or state.last_item):
            target.items = message_refs[:1] or [state.last_item]
            if not target.order_id and not target.order_ref and state.recent_orders:
                target.order_id = state.recent_orders[0]
        if not target.items:
            target.order_id = target.order_ref = None
    else:
        target.items = refs
        if not refs and state.last_item and re.search(r"\b(it|that one|this one)\b", text, re.I):
            target.items = [state.last_item]
    target.all_items = bool(_ALL_ITEMS.search(text))
    if entities.payment_methods:
        target.payment = entities.payment_methods[-1]
    elif _ORIGINAL.search(text):
        target.payment = "original"
    target.reason = entities.cancel_reason
    target.address = parse_address(text)
    target.use_default_address = target.address is None and bool(_DEFAULT_ADDRESS.search(text))
    if match := _PRICE_MAX.search(text):
        target.price_max = float(match.group(1))
    if match := _PRICE_MIN.search(text):
        target.price_min = float(match.group(1))
    return target


def kind_for(intent: IntentScore, text: str, entities: Entities) -> str | None:
    """The step kind for a business intent (None for intents the flow answers itself)."""
    if intent.label == "order_status" and _LIST.search(text) and not entities.order_ids:
        return "list_orders"
    if intent.label == "account":
        return (
            "update_address"
            if parse_address(text)
            or (
                re.search(r"\baddress\b", text, re.I)
                and re.search(r"\b(change|update|new|move|set)\b", text, re.I)
            )
            else "profile"
        )
    if intent.label == "modify_order":
        if parse_address(text) or re.search(r"\b(address|ship (?:it )?to)\b", text, re.I):
            return "modify_address"
        if entities.payment_methods and not entities.products:
            return "modify_payment"
        return "modify_items"
    return KIND_FOR_INTENT.get(intent.label)


def step_for(
    kind: str,
    intent: IntentScore,
    text: str,
    entities: Entities,
    state: ConversationState,
    message_refs: list[ItemRef],
) -> Step:
    return Step(
        id=uuid.uuid4().hex[:8],
        kind=kind,
        agent=AGENT_FOR_KIND[kind],
        intent=intent.label,
        request=text,
        target=target_for(kind, text, entities, state, message_refs),
        recent_orders=list(state.recent_orders),
    )


def merge_into(step: Step, text: str, entities: Entities, state: ConversationState) -> Step:
    """A step that asked for more information, with what this message adds."""
    fresh = target_for(step.kind, text, entities, state, [])
    target = step.target.model_copy()
    for field in (
        "order_id",
        "order_ref",
        "payment",
        "reason",
        "address",
        "price_max",
        "price_min",
    ):
        value = getattr(fresh, field)
        if value is not None:
            setattr(target, field, value)
    if fresh.items:
        target.items = fresh.items
    if fresh.wanted:
        target.wanted = {**target.wanted, **fresh.wanted}
    if fresh.wanted_product_type:
        target.wanted_product_type = fresh.wanted_product_type
    target.all_items = target.all_items or fresh.all_items
    target.use_default_address = target.use_default_address or fresh.use_default_address
    if step.kind in {"exchange", "modify_items"} and not fresh.wanted and not fresh.items:
        # "green please": a bare option answers "what would you like instead?"
        have, _ = _split_options(text, entities)
        target.wanted = {**target.wanted, **have}
    return step.model_copy(update={"target": target, "request": f"{step.request} / {text}"})

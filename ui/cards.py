"""Order and product details as Markdown tables a customer reads at a glance (never JSON).

A card is a plain dict from the assistant (`TurnResult.cards`), e.g. `{"type": "order",
"order_id": ..., "status": ..., "items": [{"name", "options", "price"}], "tracking": [...]}`.
Any card renders the same way: a bold title, its simple fields as a two-column table, each
list of records as a table of its own, lists of values as a line. Values are escaped so data
can never inject Markdown or HTML into the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-!|~])")
MAX_ROWS = 50  # a card longer than this is cut, with a note: a chat bubble is not a report


def escape(value: Any) -> str:
    text = "" if value is None else str(value)
    return _SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _label(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _cell(value: Any) -> str:
    if isinstance(value, Mapping):
        return escape(", ".join(f"{_label(k)}: {v}" for k, v in value.items()))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return escape(", ".join(str(item) for item in value))
    return escape(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = [
        "| " + " | ".join(escape(_label(h)) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


MONEY_KEYS = {"price", "amount", "total", "refund", "subtotal"}
ID_KEYS = ("order_id", "product_id", "item_id", "id")


def _value(key: str, value: Any) -> Any:
    if key in MONEY_KEYS and isinstance(value, int | float | str):
        try:
            return f"${float(value):,.2f}"
        except ValueError:
            return value
    return value


def _title(card: Mapping[str, Any]) -> str:
    if card.get("title"):
        return str(card["title"])
    kind = str(card.get("type") or "").replace("_", " ").capitalize()
    ident = next((card[key] for key in ID_KEYS if card.get(key)), "")
    return f"{kind} {ident}".strip()


def _records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def card_markdown(card: Mapping[str, Any]) -> str:
    """One card as Markdown: a bold title, its fields, then a table per list of records."""
    body = {k: v for k, v in card.items() if k not in {"title", "type"}}
    parts = [f"**{escape(title)}**"] if (title := _title(card)) else []
    simple = [
        [_label(k), _value(k, v)]
        for k, v in body.items()
        if not _records(v) and v not in (None, "", [])
    ]
    if simple:
        parts.append(_table(["detail", "value"], simple))
    for key, rows in body.items():
        if not _records(rows):
            continue
        header = list(dict.fromkeys(k for row in rows for k in row))
        shown = [[_value(k, row.get(k, "")) for k in header] for row in rows[:MAX_ROWS]]
        parts.append(f"_{escape(_label(key))}_\n\n" + _table(header, shown))
        if len(rows) > MAX_ROWS:
            parts.append(f"_…and {len(rows) - MAX_ROWS} more_")
    return "\n\n".join(parts)


def cards_markdown(cards: Sequence[Mapping[str, Any]]) -> str:
    return "\n\n".join(card_markdown(card) for card in cards if card)

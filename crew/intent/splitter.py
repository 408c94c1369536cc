"""Split a message into its requests, in the order the customer wants them done.

"Recommend a green one, then return the blue shirt" -> [recommend..., return...];
"Return the blue shirt, but first recommend a green one" -> the same two, the same order.
Rules only: connectors ("then", "after that", "but first", "before that", "and can you")
are a small closed set, and a rule is exact where a model would only be probably right.
"""

from __future__ import annotations

import re
from typing import Literal

Relation = Literal["after", "before", "first"]

_REQUEST_START = (
    r"(?:can|could|would|will)\s+(?:you|u)\b|(?:i|i'd|i'll|id|ill|i'm|im)\s+(?:also\s+)?"
    r"(?:want|need|would\s+like|wanna|like|have\s+to)\b|please\s+|pls\s+"
    r"|(?:return|cancel|exchange|swap|change|update|modify|track|check|find|show|recommend"
    r"|suggest|tell|send|look|help|switch|add|remove|where|what|when|how|is|are|do|does)\b"
)
# Connectors inside a sentence; the group name says where the following request goes.
_CONNECTOR = re.compile(
    r"(?:,\s*(?:but\s+|and\s+)?|\s+(?:but|and)\s+)(?P<first>first(?:\s+of\s+all)?|firstly"
    r"|before\s+anything\s+else)\b,?\s*"
    r"|(?:,\s*(?:but\s+|and\s+)?|\s+(?:but|and)\s+)(?P<before>before\s+(?:that|doing\s+that"
    r"|you\s+do\s+that|you\s+do))\b,?\s*"
    r"|(?:,\s*|\s+)(?:and\s+)?(?P<then>then|after\s+that|afterwards|after\s+which"
    r"|once\s+(?:that's|that\s+is|thats)\s+done|when\s+(?:that's|that\s+is)\s+done|next)\b,?\s*"
    r"|(?:,\s*(?:and\s+)?|\s+and\s+)(?P<also>also|plus|additionally)\b,?\s*"
    rf"|(?:,\s*(?:and\s+)?|\s+and\s+)(?P<and>)(?={_REQUEST_START})"
    r"|\s+(?:after|once)\s+(?P<after_you>)(?=(?:you|u)\b|checking\b)"
    r"|\s+before\s+(?P<before_you>)(?=(?:you|u)\b)",
    re.I,
)
_RELATION: dict[str, Relation] = {
    "first": "first",
    "before": "before",
    "after_you": "before",
    "then": "after",
    "also": "after",
    "and": "after",
    "before_you": "after",
}
_LEAD = re.compile(
    r"^(?:(?:but|and|oh\s+and|ok|okay|so)\s*,?\s+)?(?:(?P<first>first(?:\s+of\s+all)?|firstly"
    r"|to\s+start|to\s+begin\s+with|before\s+anything\s+else)"
    r"|(?P<before>before\s+(?:that|doing\s+that|you\s+do\s+that|that\s+happens))"
    r"|(?P<after>then|after\s+that|afterwards|next|also|plus|additionally|finally|lastly"
    r"|and))\b[,:]?\s*",
    re.I,
)
# "Before you cancel it, check where it is" / "After you check it, cancel it".
_LEADING_CLAUSE = re.compile(
    r"^(?P<word>before|after|once)\s+(?P<clause>(?:you|u)\b[^,]+),\s*", re.I
)
# "Yes, refund it to my card": the yes answers the pending question, the rest is a request.
_INTERJECTION = re.compile(
    r"^\s*((?:yes|yeah|yep|yup|sure|ok|okay|no|nope|nah|hi|hello|hey|thanks|thank\s+you)"
    r"(?:\s+(?:please|thanks|there))?)\s*[,!.]+\s*",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def split(text: str) -> list[str]:
    """The requests in `text`, in the order the customer wants them done."""
    ordered: list[str] = []
    previous = -1
    for piece, relation in _pieces(text):
        if relation == "first":
            position = 0
        elif relation == "before":
            position = max(previous, 0)
        else:
            position = previous + 1
        ordered.insert(position, piece)
        previous = position
    return ordered


def _pieces(text: str) -> list[tuple[str, Relation]]:
    pieces: list[tuple[str, Relation]] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        clause = _LEADING_CLAUSE.match(sentence)
        if clause:
            rest = sentence[clause.end() :]
            first_done = clause.group("word").lower() != "before"
            pieces += _sentence_pieces(clause.group("clause"))
            pieces += [(p, "after" if first_done else "before") for p, _ in _sentence_pieces(rest)]
            continue
        pieces += _sentence_pieces(sentence)
    return [(p, r) for p, r in pieces if re.search(r"[^\W\d_]", p)]


def _sentence_pieces(sentence: str) -> list[tuple[str, Relation]]:
    relation: Relation = "after"
    pieces: list[tuple[str, Relation]] = []
    interjection = _INTERJECTION.match(sentence)
    if interjection and sentence[interjection.end() :].strip():
        pieces.append((interjection.group(1), relation))
        sentence = sentence[interjection.end() :]
    lead = _LEAD.match(sentence)
    if lead:
        relation = _lead_relation(lead)
        sentence = sentence[lead.end() :]
    start = 0
    for m in _CONNECTOR.finditer(sentence):
        pieces.append((sentence[start : m.start()].strip(" ,"), relation))
        relation = _RELATION[m.lastgroup or "and"]
        start = m.end()
    pieces.append((sentence[start:].strip(" ,"), relation))
    return pieces


def _lead_relation(lead: re.Match[str]) -> Relation:
    if lead.group("first"):
        return "first"
    return "before" if lead.group("before") else "after"

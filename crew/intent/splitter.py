"""Split a message into its requests, in the order the customer wants them done.

"Recommend a green one, then return the blue shirt" -> [recommend..., return...];
"Return the blue shirt, but first recommend a green one" -> the same two, the same order.
Rules only: connectors ("then", "after that", "but first", "before that", "and can you")
are a small closed set, and a rule is exact where a model would only be probably right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from crew.intent import rules

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
    r"|\s+(?:after|once)\s+(?:you|u)\s+(?P<after_you>)"
    r"|\s+(?:after|once)\s+(?P<after_checking>)(?=checking\b)"
    r"|\s+before\s+(?:you|u)\s+(?P<before_you>)"
    # "..., but can you first recommend one": the "first" sits inside the next request.
    r"|(?:,\s*(?:but\s+|and\s+)?|\s+(?:but|and)\s+)(?P<ask_first>)"
    r"(?=(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+)?first\b)",
    re.I,
)
_RELATION: dict[str, Relation] = {
    "first": "first",
    "before": "before",
    "after_you": "before",
    "after_checking": "before",
    "then": "after",
    "also": "after",
    "and": "after",
    "before_you": "after",
    "ask_first": "first",
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
    r"^(?P<word>before|after|once)\s+(?:you|u)\s+(?P<clause>[^,]+),\s*", re.I
)
# "Yes, refund it to my card": the yes answers the pending question, the rest is a request.
_INTERJECTION = re.compile(
    r"^\s*((?:yes|yeah|yep|yup|sure|ok|okay|no|nope|nah|hi|hello|hey|thanks|thank\s+you)"
    r"(?:\s+(?:please|thanks|there))?)\s*[,!.]+\s*",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
# A piece that asks for something (rather than explaining): a question, a request, an order.
_REQUEST = re.compile(
    r"^\W*(?:please|pls|plz|kindly|can|could|would|will|may|do|does|did|is|are|am|was|were|have"
    r"|has|what|what's|whats|where|where's|wheres|when|why|how|which|who|i\s*'?d|id|i\s+would"
    r"|i\s+want|i\s+wanna|i\s+need|i\s+wish|i\s+like|i'm\s+(?:trying|looking|wanting)|we\s+want"
    r"|we\s+need|let\s+me|help|show|tell|give|send|find|recommend|suggest|cancel|return"
    r"|exchange|swap|change|update|modify|edit|track|check|refund|list|get|stop|connect"
    r"|transfer|put|make|set|add|remove|delete|switch|replace|ship|use|charge|go\s+ahead"
    r"|compare|look)\b",
    re.I,
)


@dataclass
class _Piece:
    text: str
    relation: Relation
    weak: bool = False  # joined to the piece before only by a full stop or a bare "and"/comma
    fixed: bool = False  # "yes,", "hi," or "I'm Yusuf Rossi, zip 19122": never merged
    request: bool = field(init=False)

    def __post_init__(self) -> None:
        self.fixed = self.fixed or rules.identification_only(self.text)
        self.request = self.fixed or bool(_REQUEST.match(self.text) or self.text.endswith("?"))


def split(text: str) -> list[str]:
    """The requests in `text`, in the order the customer wants them done."""
    ordered: list[str] = []
    previous = -1
    for piece in _merge_context(_pieces(text)):
        if piece.relation == "first":
            position = 0
        elif piece.relation == "before":
            position = max(previous, 0)
        else:
            position = previous + 1
        ordered.insert(position, piece.text)
        previous = position
    return ordered


def _merge_context(pieces: list[_Piece]) -> list[_Piece]:
    """Join statements to the request they explain ("The jacket is too small. Exchange it.").

    Only across weak joints: "then", "first", "also"... always separate requests.
    """
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        after = pieces[i + 1] if i + 1 < len(pieces) else None
        if piece.request or piece.fixed:
            i += 1
        elif after and after.weak and not after.fixed:
            pieces[i : i + 2] = [_joined(piece, after, piece.relation, piece.weak)]
        elif i > 0 and piece.weak and not pieces[i - 1].fixed:
            before = pieces[i - 1]
            pieces[i - 1 : i + 1] = [_joined(before, piece, before.relation, before.weak)]
        else:
            i += 1
    return pieces


def _joined(first: _Piece, second: _Piece, relation: Relation, weak: bool) -> _Piece:
    joined = _Piece(f"{first.text} {second.text}", relation, weak)
    joined.request = first.request or second.request
    return joined


def _pieces(text: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        clause = _LEADING_CLAUSE.match(sentence)
        if clause:
            rest = clause.group("word").lower() != "before"
            pieces += _sentence_pieces(clause.group("clause"), weak=bool(pieces))
            for piece in _sentence_pieces(sentence[clause.end() :], weak=False):
                piece.relation = "after" if rest else "before"
                pieces.append(piece)
            continue
        pieces += _sentence_pieces(sentence, weak=bool(pieces))
    return [p for p in pieces if re.search(r"[^\W\d_]", p.text) or rules.reply(p.text)]


def _sentence_pieces(sentence: str, weak: bool) -> list[_Piece]:
    """The pieces of one sentence; `weak`: the sentence follows another without a connector."""
    relation: Relation = "after"
    pieces: list[_Piece] = []
    interjection = _INTERJECTION.match(sentence)
    if interjection and sentence[interjection.end() :].strip():
        pieces.append(_Piece(interjection.group(1), relation, fixed=True))
        sentence, weak = sentence[interjection.end() :], False
    lead = _LEAD.match(sentence)
    if lead:
        relation, weak = _lead_relation(lead), False
        sentence = sentence[lead.end() :]
    start = 0
    for m in _CONNECTOR.finditer(sentence):
        pieces.append(_Piece(sentence[start : m.start()].strip(" ,"), relation, weak))
        relation, weak = _RELATION[m.lastgroup or "and"], m.lastgroup == "and"
        start = m.end()
    pieces.append(_Piece(sentence[start:].strip(" ,"), relation, weak))
    return pieces


def _lead_relation(lead: re.Match[str]) -> Relation:
    if lead.group("first"):
        return "first"
    return "before" if lead.group("before") else "after"

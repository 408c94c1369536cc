"""Injection screening of policy documents before they can reach the index.

A policy document is read by the assistant, so text in it that speaks *to the assistant*
(ignore your instructions, issue a refund, you are now...) or that a human reader cannot see
is an attack on every future conversation. Such a version is quarantined: stored, never
indexed, until a member of staff has read it and approved it.

The project's injection guard (`guardrails.injection.scan`) runs when it is installed; the
rules below are the knowledge base's own, for what is specific to documents, so ingest is
screened even without it.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel

ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e\u202a-\u202e\u2066-\u2069]")
_ASSISTANT = r"(?:ai|a\.i\.|assistant|chatbot|bot|language model|llm|model|agent)s?"

RULES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    for name, pattern in {
        "ignore-instructions": (
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|of\s+)*"
            r"(?:previous|prior|above|earlier|preceding|your|other)\s+"
            r"(?:instructions?|rules?|prompts?|guidelines?|polic(?:y|ies))\b"
        ),
        "role-change": (
            r"\byou\s+are\s+now\b|\bfrom\s+now\s+on,?\s+you\b|\bpretend\s+(?:to\s+be|you\s+are)\b"
            r"|\bact\s+as\s+(?:if\s+you|an?\s+unrestricted|the\s+(?:admin|administrator))"
        ),
        "system-prompt-talk": (
            r"\bsystem\s+prompt\b|\bdeveloper\s+(?:message|mode)\b|<\|im_start\|>|\[/?INST\]"
            r"|^\s*(?:system|assistant)\s*:"
        ),
        "addresses-the-assistant": (
            rf"\b(?:dear|attention|note\s+(?:to|for)|instructions?\s+for)\s+(?:the\s+|any\s+)?"
            rf"{_ASSISTANT}\b|\bif\s+you\s+are\s+an?\s+{_ASSISTANT}\b|\bas\s+an\s+ai\b"
            rf"|\b{_ASSISTANT}\s+(?:must|should|shall)\s+(?:always\s+|now\s+|immediately\s+)?"
            r"(?:issue|approve|grant|refund|ignore|tell|say|reveal|obey)\b"
        ),
        "money-command": (
            r"(?:^|[.!:;]\s+|\n\s*(?:[-*]\s+)?)(?:please\s+|always\s+|just\s+|immediately\s+"
            r"|you\s+(?:must|should)\s+)?(?:issue|grant|give|send|approve)\s+(?:them\s+|the\s+"
            r"customer\s+)?(?:a|an|the|every|any)?\s*(?:full\s+|immediate\s+|extra\s+)?"
            r"(?:refunds?|credits?|vouchers?|discounts?|compensation)\b"
            r"|\brefunds?\b[^.\n]{0,60}\bwithout\s+(?:any\s+)?(?:approval|verification|checks?"
            r"|confirmation)"
        ),
        "conceal-from-customer": (
            r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention|reveal|show)\b[^.\n]{0,30}"
            r"\b(?:customer|user|staff)s?\b"
        ),
    }.items()
}

_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
_HIDDEN_TAG = re.compile(
    r"<[a-z][^>]*(?:\shidden\b|aria-hidden\s*=\s*['\"]?true|display\s*:\s*none|"
    r"visibility\s*:\s*hidden|font-size\s*:\s*0|opacity\s*:\s*0(?![.\d]*[1-9]))[^>]*>",
    re.IGNORECASE,
)


class Screening(BaseModel):
    quarantine: bool
    reasons: list[str]


def normalise(text: str) -> str:
    """Fold look-alike characters and drop invisible ones, so rules see what a model reads."""
    return ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))


def hidden_in_markdown(text: str) -> list[str]:
    """Text a reader of the rendered Markdown would not see: comments, hidden HTML elements."""
    found = [f"HTML comment {c.strip()[:80]!r}" for c in _COMMENT.findall(text) if c.strip()]
    found += [f"hidden HTML element {m.group(0)[:80]!r}" for m in _HIDDEN_TAG.finditer(text)]
    return found


def strip_comments(text: str) -> str:
    return _COMMENT.sub("", text)


def _guardrails_reasons(text: str) -> list[str]:
    try:
        from guardrails.injection import scan
    except ImportError:  # the guardrails layer is optional for ingest; our rules still run
        return []
    # rules only: the classifier is calibrated on chat messages and reads only the first 256
    # word pieces, so on a whole policy page its score says little (and it trains at first use)
    verdict = scan(text, use_model=False)
    return [f"injection guard: {reason}" for reason in verdict.reasons] if verdict.flagged else []


def screen(text: str, hidden: list[str] | None = None) -> Screening:
    """Decide whether a document's visible `text` (plus what was `hidden` in it) is quarantined."""
    clean = normalise(text)
    reasons = [f"hidden text: {snippet}" for snippet in hidden or []]
    if ZERO_WIDTH.search(text):
        reasons.append("hidden text: zero-width or direction-control characters")
    for name, pattern in RULES.items():
        if match := pattern.search(clean):
            reasons.append(f"{name}: {' '.join(match.group(0).split())!r}")
    reasons += _guardrails_reasons(clean + "\n" + "\n".join(hidden or []))
    return Screening(quarantine=bool(reasons), reasons=reasons)

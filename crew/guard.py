"""The flow's view of the guardrails layer: one input verdict, one output verdict.

The checks themselves live in `guardrails/` (size, control characters, rate, injection;
grounding and leaks). This adapter only gives the flow a stable, small interface to them.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

MAX_MESSAGE_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InputVerdict(BaseModel):
    allowed: bool
    kind: str = ""  # "length", "control", "rate", "injection"
    detail: str = ""


class OutputVerdict(BaseModel):
    allowed: bool
    ungrounded: list[str] = Field(default_factory=list)


def check_input(text: str, *, conversation_id: str, client_id: str) -> InputVerdict:
    try:
        from guardrails.input import check_message
    except ImportError:
        check_message = None
    if check_message is not None:
        verdict = check_message(text, session_id=conversation_id, client_id=client_id)
        return InputVerdict(
            allowed=verdict.allowed, kind=getattr(verdict, "kind", ""), detail=str(verdict)
        )
    if len(text) > MAX_MESSAGE_CHARS:
        return InputVerdict(allowed=False, kind="length", detail=f"{len(text)} characters")
    if _CONTROL.search(text):
        return InputVerdict(allowed=False, kind="control", detail="control characters")
    from guardrails import injection

    scanned = injection.scan(text)
    if scanned.flagged:
        return InputVerdict(allowed=False, kind="injection", detail=", ".join(scanned.reasons))
    return InputVerdict(allowed=True)


def check_output(reply: str, evidence: list[Any], *, customer_id: str | None) -> OutputVerdict:
    """Every order id, amount and item in `reply` must come from this turn's `evidence`."""
    try:
        from guardrails.grounding import check_reply
    except ImportError:
        return _ids_grounded(reply, evidence)
    verdict = check_reply(reply, evidence, customer_id=customer_id)
    return OutputVerdict(
        allowed=verdict.allowed, ungrounded=list(getattr(verdict, "ungrounded", []))
    )


_ORDER_ID = re.compile(r"#W\d{7}")
_MONEY = re.compile(r"\$[\d,]+\.\d{2}")


def _ids_grounded(reply: str, evidence: list[Any]) -> OutputVerdict:
    """Order ids and amounts of the reply appear in the evidence (until guardrails lands its
    full check: items and dates too)."""
    import json

    text = json.dumps(evidence, default=str)
    amounts = {m.replace("$", "").replace(",", "") for m in _MONEY.findall(reply)}
    missing = [o for o in _ORDER_ID.findall(reply) if o not in text]
    missing += [a for a in amounts if a not in text and a.rstrip("0").rstrip(".") not in text]
    return OutputVerdict(allowed=not missing, ungrounded=missing)

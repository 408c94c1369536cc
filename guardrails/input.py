"""Checks on every customer message before anything else sees it.

`check_message(text, session_id, client_id)` returns an `InputVerdict`: `allowed`, a machine
`kind` for the trace, and a polite `message` for the customer when refused. Checks run cheapest
first, and the rate limit counts every non-empty message (garbage floods are limited too).
A refused message is recorded (span + log) and must not reach any agent.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Literal

from opentelemetry import trace
from pydantic import BaseModel

from guardrails import injection, injection_rules, ratelimit
from guardrails.messages import say

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

MAX_CHARS = 4000  # several paragraphs; more is a paste of a document or an attack payload
GARBAGE_SHARE = 0.1  # above this share of unreadable characters, the text is not typed text
# C0/C1 controls except tab, newline and carriage return; bidi overrides that reorder what is
# displayed versus what is read (the "Trojan Source" trick).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

Kind = Literal["ok", "empty", "length", "binary", "control", "rate", "injection"]


class InputVerdict(BaseModel):
    allowed: bool
    kind: Kind
    message: str = ""  # what the customer reads when refused
    detail: str = ""  # for the trace: which rule, how long, how many seconds
    score: float = 0.0  # the injection score, for the trace

    @classmethod
    def refuse(cls, kind: Kind, detail: str = "", score: float = 0.0, **values) -> InputVerdict:
        message = say("input", kind, **values)
        return cls(allowed=False, kind=kind, message=message, detail=detail, score=score)


def _garbage_share(text: str) -> float:
    """Share of characters no keyboard produces: NUL, replacement, private-use, unassigned."""
    bad = sum(
        1 for ch in text if ch in "\x00\ufffd" or unicodedata.category(ch) in {"Co", "Cn", "Cs"}
    )
    return bad / len(text)


def _check_text(text: str) -> InputVerdict | None:
    if not injection_rules.normalise(text).strip():  # invisible characters only is empty too
        return InputVerdict.refuse("empty")
    if len(text) > MAX_CHARS:
        return InputVerdict.refuse("length", f"{len(text)} characters", limit=MAX_CHARS)
    if _garbage_share(text) > GARBAGE_SHARE or "\x00" in text:
        return InputVerdict.refuse("binary", f"{_garbage_share(text):.0%} unreadable")
    if match := _CONTROL.search(text):
        return InputVerdict.refuse("control", f"U+{ord(match.group()):04X}")
    return None


def check_message(
    text: str,
    session_id: str,
    client_id: str,
    *,
    limiter: ratelimit.RateLimiter | None = None,
) -> InputVerdict:
    """Is this customer message fit to hand to the router and agents?"""
    with tracer.start_as_current_span("guardrails.input") as span:
        verdict = _verdict(text, session_id, client_id, limiter or ratelimit.limiter())
        span.set_attribute("guardrails.input.allowed", verdict.allowed)
        span.set_attribute("guardrails.input.kind", verdict.kind)
        span.set_attribute("guardrails.input.detail", verdict.detail)
        if not verdict.allowed:
            log.warning(
                "message refused: %s (%s) session=%s", verdict.kind, verdict.detail, session_id
            )
        return verdict


def _verdict(
    text: str, session_id: str, client_id: str, limiter: ratelimit.RateLimiter
) -> InputVerdict:
    if not isinstance(text, str):
        return InputVerdict.refuse("binary", type(text).__name__)
    if text.strip():
        decision = limiter.check(session_id, client_id)
        if not decision.allowed:
            seconds = max(1, round(decision.retry_after))
            return InputVerdict.refuse("rate", f"{decision.scope} limit", seconds=seconds)
    refused = _check_text(text)
    if refused is not None:
        return refused
    scanned = injection.scan(text)
    if scanned.flagged:
        return InputVerdict.refuse("injection", ", ".join(scanned.reasons), score=scanned.score)
    return InputVerdict(allowed=True, kind="ok", score=scanned.score)

"""Untrusted text (documents, product data, order notes, tool results) as quoted data.

Anything not typed by the customer or written in our code reaches a model only through `quote`:
it is scanned for injection on the way in, delimiter look-alikes inside it are defused, and it is
wrapped in a block whose closing tag carries a random nonce, so text inside cannot end the block
early and speak as the system. The offline backend never follows text it reads; the OpenAI path
is told not to by the block's notice, and cannot act on it anyway (tool governance).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from pydantic import BaseModel

from guardrails import injection
from guardrails.messages import say

TAG = "untrusted_data"
WINDOW, STRIDE = 800, 600  # MiniLM reads ~256 tokens: long text is scanned in overlapping windows

# Our own tag in any spelling, and the chat-template tokens of common models.
_SPOOFS = re.compile(rf"<\s*/?\s*{TAG}\b|<\|[a-z_]+\|>|\[/?INST\]|<<\s*/?SYS\s*>>", re.IGNORECASE)
_SAFE_SOURCE = re.compile(r"[^A-Za-z0-9_.:/#@ -]")


class Quoted(BaseModel):
    text: str  # the block to put in a prompt
    source: str
    flagged: bool
    score: float
    reasons: list[str]


def defuse(text: str) -> str:
    """Make delimiter and chat-token look-alikes inert by replacing their angle brackets."""
    return _SPOOFS.sub(
        lambda m: m.group().replace("<", "‹").replace(">", "›").replace("[", "⟦").replace("]", "⟧"),
        text,
    )


def _windows(text: str) -> list[str]:
    if len(text) <= WINDOW:
        return [text]
    return [text[start : start + WINDOW] for start in range(0, len(text) - WINDOW + STRIDE, STRIDE)]


def scan_long(text: str) -> injection.Verdict:
    """`injection.scan` over a text of any length: flagged if any window is."""
    verdicts = injection.scan_many(_windows(text))
    reasons = sorted({reason for v in verdicts for reason in v.reasons})
    return injection.Verdict(
        flagged=any(v.flagged for v in verdicts),
        score=max(v.score for v in verdicts),
        reasons=reasons,
    )


def strings_in(value: Any) -> list[str]:
    """The string leaves of a JSON-like value (keys too: a product option name can carry text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [str(key), *strings_in(item)]]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in strings_in(item)]
    return []


def quote(text: str, source: str) -> Quoted:
    """Scan `text` and wrap it as a quoted, nonce-delimited block naming its `source`."""
    verdict = scan_long(text) if text.strip() else injection.Verdict(flagged=False, score=0.0)
    return _wrap(defuse(text), source, verdict)


def quote_json(value: Any, source: str) -> Quoted:
    """A tool result or record: its strings are scanned, the JSON is quoted."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return quote(value, source)
    strings = [s for s in strings_in(value) if s.strip()]
    verdict = (
        scan_long("\n".join(strings)) if strings else injection.Verdict(flagged=False, score=0.0)
    )
    body = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return _wrap(defuse(body), source, verdict)


def _wrap(body: str, source: str, verdict: injection.Verdict) -> Quoted:
    name = _SAFE_SOURCE.sub("_", source)[:120]
    nonce = secrets.token_hex(6)
    lines = [say("quoting", "notice", source=name)]
    if verdict.flagged:
        lines.append(say("quoting", "flagged"))
    lines += [f'<{TAG} source="{name}" id="{nonce}">', body, f'</{TAG} id="{nonce}">']
    return Quoted(
        text="\n".join(lines),
        source=name,
        flagged=verdict.flagged,
        score=verdict.score,
        reasons=verdict.reasons,
    )

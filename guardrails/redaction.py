"""PII redaction for traces and logs: emails, phone numbers, card numbers, street addresses.

`redact_text` for strings, `redact` for nested JSON-like values (and JSON inside strings, as
OpenInference puts tool inputs and outputs in span attributes). For traces, spans are redacted
before they leave the process: a finished `ReadableSpan` is immutable, so rather than poking at
its private `_attributes` we rebuild it through the public constructor with redacted
attributes, event attributes and link attributes:

    provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(otlp_exporter)))
    # or wrap a processor someone else built (Phoenix's `register()`):
    provider.add_span_processor(RedactingSpanProcessor(phoenix_processor))

`RedactingFilter` does the same for log records.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
ADDRESS = "[address]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13-19 digits, optionally grouped by single spaces or dashes; Luhn decides (an order total or
# a ten-digit item id is not a card).
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# Needs separators or a leading +, so bare ten-digit item and tracking ids are left alone.
_PHONE = re.compile(
    r"(?<![\w#])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\w-])"
)
_STREET = (
    r"street|st|avenue|ave|road|rd|drive|dr|lane|ln|boulevard|blvd|court|ct|way|place|pl|"
    r"terrace|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|loop|alley"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,6}}\s+(?:[A-Za-z][A-Za-z'-]*\s+){{1,4}}(?:{_STREET})\b\.?"
    r"(?:,?\s+(?:suite|apt|apartment|unit|#)\s*[\w-]+)?"
    r"|\b(?:suite|apt|apartment|unit)\s+\d+[a-z]?\b",
    re.IGNORECASE,
)
# Keys whose whole value is personal, whatever it looks like.
_SENSITIVE_KEYS = {
    "email": EMAIL,
    "phone": PHONE,
    "phone_number": PHONE,
    "address1": ADDRESS,
    "address2": ADDRESS,
    "card_number": CARD,
}


def luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return CARD if luhn(digits) else match.group()


def redact_text(text: str) -> str:
    text = _EMAIL.sub(EMAIL, text)
    text = _CARD.sub(_card, text)
    text = _PHONE.sub(PHONE, text)
    return _ADDRESS.sub(ADDRESS, text)


def _redact_string(text: str) -> str:
    stripped = text.lstrip()
    if stripped[:1] in {"{", "["}:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            return json.dumps(redact(parsed), ensure_ascii=False)
    return redact_text(text)


def redact(value: Any) -> Any:
    """A copy of `value` (str, dict, list, tuple, scalars) with personal data replaced."""
    if isinstance(value, str):
        return _redact_string(value)
    if isinstance(value, dict):
        return {
            key: (
                _SENSITIVE_KEYS[key]
                if key in _SENSITIVE_KEYS and isinstance(item, str) and item
                else redact(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)
    return value


def _attributes(attributes: Any) -> dict[str, Any] | None:
    if not attributes:
        return None
    return {key: redact(value) for key, value in attributes.items()}


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """The same span with redacted attributes, event attributes and link attributes."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_attributes(span.attributes),
        events=[
            Event(event.name, _attributes(event.attributes), event.timestamp)
            for event in span.events
        ],
        links=[trace_api.Link(link.context, _attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(SpanExporter):
    """Redacts every span, then hands it to `inner` (OTLP to Phoenix, in-memory for tests)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact_span(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingSpanProcessor(SpanProcessor):
    """Wraps a processor built elsewhere: it only ever sees redacted finished spans."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span, parent_context=None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(redact_span(span))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True

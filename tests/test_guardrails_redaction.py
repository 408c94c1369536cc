"""PII redaction: one row per kind of personal data (and per look-alike that must survive)."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrails.redaction import (
    RedactingFilter,
    RedactingSpanExporter,
    RedactingSpanProcessor,
    luhn,
    redact,
    redact_text,
)

ROWS = [
    ("email", "write to yusuf.rossi+shop@example.com now", "write to [email] now"),
    ("card plain", "card 4111111111111111 please", "card [card] please"),
    ("card spaces", "card 4111 1111 1111 1111 please", "card [card] please"),
    ("card dashes", "card 5500-0000-0000-0004 ok", "card [card] ok"),
    ("amex", "amex 3782 822463 10005", "amex [card]"),
    ("phone us", "call 555-123-4567 today", "call [phone] today"),
    ("phone parens", "call (555) 123-4567", "call [phone]"),
    ("phone intl", "call +44 20 7946 0958", "call [phone]"),
    ("phone dots", "tel 555.123.4567", "tel [phone]"),
    ("street", "ship to 986 Sunset Drive, Denver", "ship to [address], Denver"),
    ("street with suite", "215 River Road, Suite 991", "[address]"),
    ("street abbrev", "at 12 Main St. please", "at [address] please"),
    ("suite alone", "Suite 259", "[address]"),
    # look-alikes that must survive: the store's ids and amounts are not PII
    ("order id", "order #W2378156", "order #W2378156"),
    ("item id", "item 6469567736", "item 6469567736"),
    ("luhn-invalid 16 digits", "ref 1234567812345678", "ref 1234567812345678"),
    ("amount", "refund $1,234.56", "refund $1,234.56"),
    ("date", "on 2024-05-01", "on 2024-05-01"),
    ("tracking id", "tracking 357962501027", "tracking 357962501027"),
    ("product option", "size 10, 1000ml", "size 10, 1000ml"),
]


@pytest.mark.parametrize(("text", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_redact_text(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("5500000000000004", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(digits, valid):
    assert luhn(digits) is valid


NESTED = {
    "user_id": "yusuf_rossi_9620",
    "email": "anything-at-all",
    "address": {"address1": "1 Odd Name", "address2": "", "city": "Philadelphia"},
    "notes": ["call me on 555-123-4567", {"card": "4111 1111 1111 1111"}],
    "orders": ["#W2378156"],
    "price": 47.84,
}


def test_redact_nested_json_by_key_and_pattern():
    assert redact(NESTED) == {
        "user_id": "yusuf_rossi_9620",
        "email": "[email]",
        "address": {"address1": "[address]", "address2": "", "city": "Philadelphia"},
        "notes": ["call me on [phone]", {"card": "[card]"}],
        "orders": ["#W2378156"],
        "price": 47.84,
    }


def test_json_inside_a_string_is_redacted_structurally():
    redacted = json.loads(redact(json.dumps(NESTED)))
    assert redacted["email"] == "[email]" and redacted["address"]["address1"] == "[address]"


SECRETS = ["yusuf.rossi@example.com", "4111 1111 1111 1111", "555-123-4567", "986 Sunset Drive"]


def _emit(provider):
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("tool.get_user_details") as span:
        span.set_attribute("input.value", json.dumps({"email": SECRETS[0]}))
        span.set_attribute("output.value", f"card {SECRETS[1]}, phone {SECRETS[2]}")
        span.set_attribute("tags", [f"addr {SECRETS[3]}", "ok"])
        span.add_event("note", {"text": f"mail {SECRETS[0]}"})
        span.set_attribute("order", "#W2378156")


@pytest.mark.parametrize("wrap", ["exporter", "processor"])
def test_spans_are_redacted_before_export(wrap):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    if wrap == "exporter":
        provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(memory)))
    else:
        provider.add_span_processor(RedactingSpanProcessor(SimpleSpanProcessor(memory)))
    _emit(provider)
    [span] = memory.get_finished_spans()
    exported = json.dumps(
        {"attributes": dict(span.attributes), "events": [dict(e.attributes) for e in span.events]}
    )
    for secret in SECRETS:
        assert secret not in exported
    assert span.attributes["order"] == "#W2378156"  # ids survive
    assert span.name == "tool.get_user_details" and span.end_time is not None


def test_log_records_are_redacted(caplog):
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("customer %s paid with %s", SECRETS[0], SECRETS[1])
    finally:
        logger.filters.clear()
    assert caplog.records[0].getMessage() == "customer [email] paid with [card]"

"""A retrieved passage for tests that hand passages on (citation: "Returns and refunds §
Refund methods (v3)")."""

from __future__ import annotations

from datetime import date

from knowledge import Passage


def passage(text: str) -> Passage:
    return Passage(
        text=text,
        doc_id="returns",
        title="Returns and refunds",
        section="Refund methods",
        category="returns",
        version=3,
        effective_date=date(2026, 9, 1),
        score=0.7,
    )

"""The customer-facing sentences of the guardrails, kept as prose in `messages.yaml`."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

MESSAGES = Path(__file__).with_name("messages.yaml")


@cache
def _all() -> dict[str, dict[str, str]]:
    return yaml.safe_load(MESSAGES.read_text(encoding="utf-8"))


def say(group: str, kind: str, **values: Any) -> str:
    """The sentence for `group.kind` with `{placeholders}` filled from `values`."""
    return _all()[group][kind].format(**values)

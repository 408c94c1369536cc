"""The labelled examples the injection classifier learns from, and its fixed held-out split.

Sources (licences in `guardrails/data/README.md`): deepset/prompt-injections (mixed), NotInject
(benign prompts with trigger words), our own retail injections and honest customer messages, and
the intent router's examples (`crew/config/intents.yaml`, benign customer traffic) when present.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

import settings
from guardrails import injection_rules

DATA = Path(__file__).parent / "data"
INTENTS = settings.ROOT / "crew" / "config" / "intents.yaml"
HELD_OUT_PERCENT = 20

Source = Literal["deepset", "notinject", "retail", "intents"]
# Benign messages of this kind are what the false-positive budget is calibrated on: real
# customers of a store, not general-purpose chatbot prompts.
CUSTOMER_SOURCES: frozenset[str] = frozenset({"retail", "intents"})


class Example(BaseModel):
    text: str
    label: Literal[0, 1]  # 1 = injection
    source: Source

    @property
    def customer(self) -> bool:
        return self.source in CUSTOMER_SOURCES


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _intent_strings(node: Any) -> Iterator[str]:
    """Every string in the router's file (label -> list of examples; nesting tolerated)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _intent_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _intent_strings(item)


def _intent_examples() -> list[str]:
    """The router's examples as benign traffic, minus any the precise rules call an attack (the
    router keeps a few injections under `out_of_scope` so it learns to route them away)."""
    if not INTENTS.is_file():
        return []
    texts = set(_intent_strings(yaml.safe_load(INTENTS.read_text(encoding="utf-8"))))
    return sorted(t for t in texts if not injection_rules.matches(t))


def files() -> list[Path]:
    """Every file the examples come from (their bytes key the trained-model cache)."""
    paths = sorted(p for p in DATA.iterdir() if p.suffix in {".jsonl", ".json", ".txt"})
    return [*paths, INTENTS] if INTENTS.is_file() else paths


def load() -> list[Example]:
    """All examples, de-duplicated by text (first label wins; the sources agree)."""
    rows: list[Example] = []
    for line in _lines(DATA / "deepset_prompt_injections.jsonl"):
        record = json.loads(line)
        rows.append(Example(text=record["text"], label=int(record["label"]), source="deepset"))
    notinject = json.loads((DATA / "notinject_one.json").read_text(encoding="utf-8"))
    rows += [Example(text=r["prompt"], label=0, source="notinject") for r in notinject]
    rows += [Example(text=t, label=0, source="retail") for t in _lines(DATA / "retail_benign.txt")]
    rows += [
        Example(text=t, label=1, source="retail") for t in _lines(DATA / "retail_injections.txt")
    ]
    rows += [Example(text=t, label=0, source="intents") for t in _intent_examples()]
    unique: dict[str, Example] = {}
    for row in rows:
        unique.setdefault(row.text.strip().casefold(), row)
    return list(unique.values())


def held_out(example: Example) -> bool:
    """A stable split by text hash: the same example is held out on every machine and run."""
    digest = hashlib.sha256(example.text.strip().casefold().encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if not held_out(e)]
    test = [e for e in examples if held_out(e)]
    return train, test

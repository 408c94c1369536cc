"""`python -m crew.intent --jsonl IN.jsonl`: classify messages in bulk, one JSON line each.

Input lines are `{"text": ...}`; output lines `{"text", "intents": [{"label", "confidence"}],
"entities": {...}}`, first intent first. The router loads once; all messages go through
`classify_many` in batches (one embedding call per batch).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import settings
from crew.intent.catalog import Catalog
from crew.intent.router import Router

DEFAULT_CATALOG = Path(settings.ROOT) / "shop" / "data" / "db.json"
BATCH = 64


class InputError(ValueError):
    """A line of the input is not a JSON object with a string "text"."""


def read_texts(lines: Iterator[str]) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"line {number}: not JSON ({error.msg})") from error
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InputError(f'line {number}: expected {{"text": "..."}}')
        yield row["text"]


def _batches(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m crew.intent", description=__doc__)
    parser.add_argument("--jsonl", type=Path, required=True, help='input, lines {"text": ...}')
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="db.json")
    args = parser.parse_args(argv)
    router = Router.load(Catalog.from_db_json(args.catalog))
    with args.jsonl.open(encoding="utf-8") as lines:
        try:
            for batch in _batches(read_texts(lines), BATCH):
                for result in router.classify_many(batch):
                    row = {
                        "text": result.text,
                        "intents": [
                            {"label": i.label, "confidence": i.confidence} for i in result.intents
                        ],
                        "entities": result.entities.model_dump(mode="json"),
                    }
                    print(json.dumps(row, ensure_ascii=False), flush=False)
        except InputError as error:
            print(f"python -m crew.intent: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Splitting a Markdown policy into passages along its headings, within a size the model reads.

MiniLM reads 256 word pieces (about 1,000 characters of English); a longer passage is embedded
by its beginning only, so long sections are split at paragraph, then sentence, boundaries.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

MAX_CHARS = 900
MIN_CHARS = 30  # a heading with a word under it is not a passage worth retrieving
OVERVIEW = "Overview"
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class Chunk(BaseModel):
    section: str
    text: str


def split(body: str) -> list[Chunk]:
    """Passages of `body`, each labelled with its section ("Parent › Child" below level 2)."""
    chunks: list[Chunk] = []
    path: list[str] = []  # heading texts from level 2 down
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        section = " › ".join(path) or OVERVIEW
        text = "\n".join(lines).strip()
        chunks.extend(Chunk(section=section, text=part) for part in _pieces(text))
        lines.clear()

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level, title = len(heading.group(1)), heading.group(2)
        # level 1 is the document's title: the text under it is the overview
        path = [] if level == 1 else [*path[: level - 2], title]
    flush()
    return chunks


def _pieces(text: str) -> list[str]:
    if len(text) < MIN_CHARS:
        return []
    if len(text) <= MAX_CHARS:
        return [text]
    units = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    units = [s for u in units for s in (_sentences(u) if len(u) > MAX_CHARS else [u])]
    pieces: list[str] = []
    current = ""
    for unit in units:
        if current and len(current) + len(unit) + 2 > MAX_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{unit}" if current else unit
    pieces.append(current)
    return [p for p in pieces if len(p) >= MIN_CHARS]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", text)
    # a "sentence" longer than the limit (a table, a run-on list) is cut hard
    return [p[i : i + MAX_CHARS] for p in parts for i in range(0, len(p), MAX_CHARS)]

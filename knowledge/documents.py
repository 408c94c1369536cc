"""Reading a policy file into a validated `DocumentSource`, refusing what must not be ingested.

Accepted: Markdown (with an optional YAML front matter: id, title, category, effective), plain
text, and HTML (converted to the text a reader sees). Refused, with a message for staff:
other types, binary or non-UTF-8 files, files over the size limits, and empty documents.
Nothing here touches the database or the index, so a refused file leaves no trace.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, computed_field

from knowledge import errors
from knowledge.html_text import html_to_text
from knowledge.screening import ZERO_WIDTH, hidden_in_markdown, strip_comments

KINDS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}
MAX_FILE_BYTES = 256_000  # ten times our longest policy: anything bigger is not a policy page
MAX_TEXT_CHARS = 60_000
MIN_TEXT_CHARS = 40  # fewer visible characters than a sentence: nothing to answer from
FRONT_MATTER_KEYS = {"id", "title", "category", "effective"}
DOC_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,78}[a-z0-9]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class DocumentSource(BaseModel):
    """A document as staff supplied it, before it becomes a version."""

    doc_id: str
    title: str | None  # None: keep the current version's (or derive one for a new document)
    category: str | None
    effective_date: date | None
    body: str  # Markdown
    name: str  # the file it came from
    hidden: list[str] = []  # text invisible to a reader that the conversion removed

    @computed_field
    @property
    def content_hash(self) -> str:
        return content_hash(self.body)


def content_hash(body: str) -> str:
    """Identity of a body for duplicate detection, blind to trailing spaces and blank lines."""
    lines = [line.rstrip() for line in body.strip().splitlines()]
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80]


def read_document(path: Path, doc_id: str | None = None) -> DocumentSource:
    """Parse the file at `path` (see `parse_document`)."""
    if not path.is_file():
        raise errors.IngestError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:  # refused before reading: a huge file never enters memory
        raise errors.DocumentTooLarge(
            f"{path.name}: {size:,} bytes is over the limit of {MAX_FILE_BYTES:,}"
        )
    return parse_document(path.name, path.read_bytes(), doc_id)


def parse_document(name: str, data: bytes, doc_id: str | None = None) -> DocumentSource:
    """Validate and convert an uploaded file's bytes; raise an `IngestError` to refuse it.

    `doc_id` (when editing a known document) overrides the id in the file or its name.
    """
    suffix = Path(name).suffix.lower()
    kind = KINDS.get(suffix)
    if kind is None:
        accepted = ", ".join(sorted(KINDS))
        raise errors.UnsupportedFileType(
            f"{name}: {suffix or 'no extension'} files are not accepted (accepted: {accepted})"
        )
    if len(data) > MAX_FILE_BYTES:
        raise errors.DocumentTooLarge(
            f"{name}: {len(data):,} bytes is over the limit of {MAX_FILE_BYTES:,}"
        )
    text = _decode(name, data)
    meta: dict[str, Any] = {}
    hidden: list[str] = []
    if kind == "markdown":
        meta, text = _front_matter(name, text)
        hidden = hidden_in_markdown(text)
        text = strip_comments(text)
    elif kind == "html":
        converted = html_to_text(text)
        text, hidden = converted.text, converted.hidden
        meta = {"title": converted.title} if converted.title else {}
    if ZERO_WIDTH.search(text):
        hidden.append("zero-width or direction-control characters")
    body = _normalise(ZERO_WIDTH.sub("", text))
    _check_size(name, body)
    return DocumentSource(
        doc_id=doc_id or _doc_id(name, meta.get("id")),
        title=_clean_field(meta.get("title")) or _first_heading(body),
        category=_clean_field(meta.get("category")),
        effective_date=_effective(name, meta.get("effective")),
        body=body,
        name=name,
        hidden=hidden,
    )


def _decode(name: str, data: bytes) -> str:
    if b"\x00" in data:
        raise errors.NotText(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.NotText(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _front_matter(name: str, text: str) -> tuple[dict[str, Any], str]:
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        raise errors.InvalidFrontMatter(f"{name}: front matter opened with --- is never closed")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        raise errors.InvalidFrontMatter(f"{name}: front matter is not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise errors.InvalidFrontMatter(f"{name}: front matter must be key: value lines")
    unknown = set(meta) - FRONT_MATTER_KEYS
    if unknown:
        raise errors.InvalidFrontMatter(
            f"{name}: unknown front matter keys {sorted(unknown)} "
            f"(allowed: {sorted(FRONT_MATTER_KEYS)})"
        )
    return meta, text[end + 4 :].lstrip("-").lstrip("\n")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _check_size(name: str, body: str) -> None:
    visible = re.sub(r"[#>*_`\-\s]+", "", body)
    if len(visible) < MIN_TEXT_CHARS:
        raise errors.EmptyDocument(
            f"{name}: has no content to publish ({len(visible)} visible characters, "
            f"at least {MIN_TEXT_CHARS} needed)"
        )
    if len(body) > MAX_TEXT_CHARS:
        raise errors.DocumentTooLarge(
            f"{name}: {len(body):,} characters of text is over the limit of {MAX_TEXT_CHARS:,}"
        )


def _doc_id(name: str, declared: object) -> str:
    doc_id = str(declared).strip() if declared else slug(Path(name).stem)
    if not DOC_ID.fullmatch(doc_id):
        raise errors.InvalidFrontMatter(
            f"{name}: document id {doc_id!r} must be 3-80 lowercase letters, digits or dashes"
        )
    return doc_id


def _clean_field(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:200] or None


def _first_heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", body, re.M)
    return match.group(1).strip()[:200] if match else None


def _effective(name: str, value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise errors.InvalidFrontMatter(
            f"{name}: effective date {value!r} is not a date like 2026-09-01"
        ) from exc

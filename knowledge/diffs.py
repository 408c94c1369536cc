"""One-line summaries of what changed between two versions of a policy, for the history."""

from __future__ import annotations

import difflib

from knowledge.chunking import split


def summarise(old: str | None, new: str, *, title_change: tuple[str, str] | None = None) -> str:
    """E.g. "+3 −1 lines; sections: Refund timing, Refund methods; title: A → B"."""
    if old is None:
        count = len(_sections(new))
        return f"new document: {count} section{'s' * (count != 1)}, {len(new.split())} words"
    added = removed = 0
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    parts = [f"+{added} −{removed} lines"]
    old_sections, new_sections = _sections(old), _sections(new)
    changed = [s for s in new_sections if old_sections.get(s) != new_sections[s]]
    changed += [f"{s} (removed)" for s in old_sections if s not in new_sections]
    if changed:
        parts.append("sections: " + ", ".join(changed[:8]) + (" …" if len(changed) > 8 else ""))
    if title_change and title_change[0] != title_change[1]:
        parts.append(f"title: {title_change[0]} → {title_change[1]}")
    return "; ".join(parts)


def _sections(body: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for chunk in split(body):
        texts[chunk.section] = texts.get(chunk.section, "") + chunk.text
    return texts

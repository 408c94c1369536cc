"""HTML to plain Markdown-ish text, keeping only what a reader of the page would see.

Scripts, styles and anything hidden from a human (the `hidden` attribute, `aria-hidden`,
`display:none`, zero size or opacity, off-screen positioning) are dropped, and the hidden
text that was found is reported: text a person cannot see but a model would read is the
classic way to smuggle instructions into a knowledge base.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from pydantic import BaseModel

_SILENT = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object"}
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "aside",
    "nav",
    "ul",
    "ol",
    "table",
    "tr",
    "blockquote",
    "pre",
    "dl",
    "dt",
    "dd",
    "figure",
    "form",
}
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)|"
    r"font-size\s*:\s*0(?:\.0+)?(?:px|pt|em|rem|%)?\s*(?:;|$)|"
    r"(?:^|;)\s*(?:width|height|max-height|max-width)\s*:\s*0(?:px)?\s*(?:;|$)|"
    r"(?:left|top|text-indent|margin-left)\s*:\s*-\d{3,}|clip\s*:\s*rect\(\s*0",
    re.IGNORECASE,
)
_HIDDEN_CLASS = re.compile(r"\b(?:hidden|d-none|sr-only|visually-hidden|invisible)\b", re.I)


class HtmlText(BaseModel):
    title: str | None
    text: str
    hidden: list[str]  # snippets of text that a reader would not have seen


def hidden_reason(attrs: dict[str, str | None]) -> str | None:
    """Why an element with these attributes is invisible to a reader (None when it is visible)."""
    if "hidden" in attrs:
        return "hidden attribute"
    if (attrs.get("aria-hidden") or "").lower() == "true":
        return "aria-hidden"
    style = attrs.get("style") or ""
    if match := _HIDDEN_STYLE.search(style):
        return f"style {match.group(0).strip(' ;')!r}"
    if match := _HIDDEN_CLASS.search(attrs.get("class") or ""):
        return f"class {match.group(0)!r}"
    return None


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden: list[str] = []
        self.title: str | None = None
        self._stack: list[str] = []
        self._skip_depth: int | None = None  # stack depth of the element being skipped
        self._skip_reports = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _VOID:
            if tag in {"br", "hr"} and self._skip_depth is None:
                self.parts.append("\n")
            return
        self._stack.append(tag)
        if self._skip_depth is not None:
            return
        if tag in _SILENT:
            self._skip_depth, self._skip_reports = len(self._stack), False
        elif hidden_reason(dict(attrs)):
            self._skip_depth, self._skip_reports = len(self._stack), True
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag not in self._stack:
            return  # a stray end tag: browsers ignore it too
        while self._stack:
            closed = self._stack.pop()
            if self._skip_depth is not None and len(self._stack) < self._skip_depth:
                self._skip_depth = None
            if closed == tag:
                break
        if tag in _BLOCK or re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is None and data.strip():
            self.title = data.strip()
        if self._skip_depth is None:
            self.parts.append(data)
        elif self._skip_reports and data.strip():
            self.hidden.append(" ".join(data.split())[:200])


def html_to_text(html: str) -> HtmlText:
    """What a reader of `html` sees, as text with Markdown headings and list items."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return HtmlText(title=parser.title, text=body, hidden=parser.hidden)

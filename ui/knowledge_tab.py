"""The console's knowledge base tab: documents, versions and diffs, edits and uploads, rollback,
removal, quarantine review, and "what would the assistant retrieve for…".

Every change is a call on the `PolicyStore` (which versions, screens, indexes and audits it);
its refusals (`KnowledgeError`) come back to staff as a sentence, not a stack trace.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from knowledge.documents import KINDS, MAX_FILE_BYTES, parse_document
from knowledge.errors import KnowledgeError
from ui.auth import staff_name
from ui.cards import escape

log = logging.getLogger(__name__)

DOCUMENT_COLUMNS = ["doc_id", "title", "category", "state", "current", "latest", "updated"]
VERSION_COLUMNS = ["version", "action", "status", "author", "created", "change"]
HIT_COLUMNS = ["score", "citation", "passage"]
QUARANTINE_COLUMNS = ["doc_id", "version", "author", "created", "reasons"]
MAX_EDIT_CHARS = 60_000


def _refusal(action: Callable[[], str]) -> str:
    """Run a store action; its refusal becomes the message staff read."""
    try:
        return action()
    except KnowledgeError as error:
        return f"Not done: {error}"


class KnowledgeConsole:
    def __init__(self, store: Any) -> None:
        self.store = store  # knowledge.store.PolicyStore

    def documents(self) -> pd.DataFrame:
        rows = [
            [
                d.doc_id,
                d.title,
                d.category,
                d.state,
                d.current_version,
                d.latest_version,
                d.updated_at.strftime("%Y-%m-%d %H:%M"),
            ]
            for d in self.store.list_documents(include_removed=True)
        ]
        return pd.DataFrame(rows, columns=DOCUMENT_COLUMNS)

    def doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.store.list_documents(include_removed=True)]

    def view(self, doc_id: str | None) -> tuple[str, str, pd.DataFrame]:
        """The served text (Markdown), the editable text, and the version history."""
        if not doc_id:
            return "_Pick a document._", "", pd.DataFrame(columns=VERSION_COLUMNS)
        try:
            info = self.store.show(doc_id)
            versions = self.store.history(doc_id)
        except KnowledgeError as error:
            return f"_{escape(error)}_", "", pd.DataFrame(columns=VERSION_COLUMNS)
        header = (
            f"### {escape(info.title)} (v{info.version}, {info.status})\n\n"
            f"Category {escape(info.category)}, effective {info.effective_date}.\n\n---\n\n"
        )
        history = pd.DataFrame(
            [
                [
                    v.version,
                    v.action,
                    v.status,
                    v.author,
                    v.created_at.strftime("%Y-%m-%d %H:%M"),
                    v.diff_summary,
                ]
                for v in versions
            ],
            columns=VERSION_COLUMNS,
        )
        return header + (info.body or "_(removed)_"), info.body or "", history

    def diff(self, doc_id: str | None, old: float | None, new: float | None) -> str:
        """A unified diff between two versions of a document."""
        if not doc_id or not old or not new:
            return ""
        try:
            before = self.store.show(doc_id, int(old))
            after = self.store.show(doc_id, int(new))
        except KnowledgeError as error:
            return f"# {error}"
        lines = difflib.unified_diff(
            (before.body or "").splitlines(),
            (after.body or "").splitlines(),
            fromfile=f"{doc_id} v{int(old)}",
            tofile=f"{doc_id} v{int(new)}",
            lineterm="",
        )
        return "\n".join(lines) or "(no differences)"

    def save_edit(self, doc_id: str | None, body: str, staff: str) -> str:
        if not doc_id:
            return "Pick a document to edit."

        def edit() -> str:
            source = parse_document(f"{doc_id}.md", (body or "").encode("utf-8"))
            info = self.store.edit(doc_id, source, author=staff)
            return _published(info)

        return _refusal(edit)

    def upload(self, path: str | None, staff: str) -> str:
        """Add a new document from a file, or a new version of the one with the same id."""
        if not path:
            return "Choose a file first."
        file = Path(path)

        def add_or_edit() -> str:
            source = parse_document(file.name, file.read_bytes())
            known = set(self.doc_ids())
            if source.doc_id in known and self._editable(source.doc_id):
                return _published(self.store.edit(source.doc_id, source, author=staff))
            return _published(self.store.add(source, author=staff))

        return _refusal(add_or_edit)

    def _editable(self, doc_id: str) -> bool:
        return any(
            d.doc_id == doc_id and d.state != "removed"
            for d in self.store.list_documents(include_removed=True)
        )

    def rollback(self, doc_id: str | None, version: float | None, staff: str) -> str:
        if not doc_id or not version:
            return "Pick a document and the version to restore."
        return _refusal(lambda: _published(self.store.rollback(doc_id, int(version), author=staff)))

    def remove(self, doc_id: str | None, staff: str) -> str:
        if not doc_id:
            return "Pick a document to remove."
        return _refusal(
            lambda: (
                f"Removed {self.store.remove(doc_id, author=staff).doc_id}; "
                "roll back to restore it."
            )
        )

    def quarantine(self) -> pd.DataFrame:
        rows = [
            [
                v.doc_id,
                v.version,
                v.author,
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                "; ".join(v.quarantine_reasons),
            ]
            for v in self.store.quarantined()
        ]
        return pd.DataFrame(rows, columns=QUARANTINE_COLUMNS)

    def quarantined_text(self, doc_id: str | None, version: float | None) -> str:
        if not doc_id or not version:
            return ""
        try:
            info = self.store.show(doc_id, int(version))
        except KnowledgeError as error:
            return str(error)
        reasons = "\n".join(f"- {escape(r)}" for r in info.quarantine_reasons)
        # Shown as code, not rendered: a planted instruction must be read, not obeyed or hidden.
        return f"**Why it was held:**\n{reasons}\n\n```text\n{info.body or ''}\n```"

    def approve(self, doc_id: str | None, version: float | None, staff: str) -> str:
        if not doc_id or not version:
            return "Pick a quarantined version first."
        return _refusal(
            lambda: _published(self.store.approve_quarantined(doc_id, int(version), author=staff))
        )

    def retrieve(self, query: str) -> pd.DataFrame:
        query = (query or "").strip()[:500]
        if not query:
            return pd.DataFrame(columns=HIT_COLUMNS)
        rows = [[p.score, p.citation, p.text] for p in self.store.search(query, k=5)]
        return pd.DataFrame(rows, columns=HIT_COLUMNS)


def _published(info: Any) -> str:
    if info.status == "quarantined":
        reasons = "; ".join(info.quarantine_reasons)
        return (
            f"Saved {info.doc_id} v{info.version} but held in quarantine ({reasons}): "
            "it is not served until approved under Quarantine."
        )
    return f"Published {info.doc_id} v{info.version} ({info.diff_summary})."


def build(store: Any) -> None:
    """The tab, inside the console's `gr.Tabs`."""
    with gr.Tab("Knowledge base", id="knowledge"):
        if store is None:
            gr.Markdown("_The knowledge base is not available in this process._")
            return
        kb = KnowledgeConsole(store)
        with gr.Tabs():
            _documents(kb)
            _quarantine(kb)
            _retrieval(kb)


def _documents(kb: KnowledgeConsole) -> None:
    with gr.Tab("Documents"):
        table = gr.Dataframe(kb.documents, interactive=False)
        doc = gr.Dropdown(choices=kb.doc_ids(), label="Document", elem_id="kb-doc")
        with gr.Tabs():
            with gr.Tab("Read"):
                shown = gr.Markdown()
            with gr.Tab("Edit"):
                body = gr.Textbox(
                    label="Text (Markdown)", lines=18, max_length=MAX_EDIT_CHARS, elem_id="kb-body"
                )
                save = gr.Button("Publish as a new version", variant="primary", elem_id="kb-save")
            with gr.Tab("History"):
                history = gr.Dataframe(interactive=False)
                with gr.Row():
                    old = gr.Number(label="From version", precision=0)
                    new = gr.Number(label="To version", precision=0)
                compare = gr.Button("Show diff")
                diff = gr.Code(language=None, label="Diff", interactive=False)
                with gr.Row():
                    target = gr.Number(label="Version to restore", precision=0)
                    rollback = gr.Button("Roll back to it")
                remove = gr.Button("Remove this document", variant="stop")
            with gr.Tab("Upload"):
                upload = gr.File(
                    label=f"Policy file ({', '.join(sorted(KINDS))}; at most "
                    f"{MAX_FILE_BYTES // 1000} kB)",
                    file_types=sorted(KINDS),
                    type="filepath",
                )
                send = gr.Button("Upload and publish")
        result = gr.Markdown(elem_id="kb-result")

        def refreshed(message: str, doc_id: str | None):
            return (message, kb.documents(), gr.update(choices=kb.doc_ids()), *kb.view(doc_id))

        after = [result, table, doc, shown, body, history]
        doc.change(kb.view, doc, [shown, body, history], api_name="kb_view")
        compare.click(kb.diff, [doc, old, new], diff, api_name="kb_diff")

        def save_fn(doc_id, text, request: gr.Request):
            return refreshed(kb.save_edit(doc_id, text, staff_name(request)), doc_id)

        def rollback_fn(doc_id, version, request: gr.Request):
            return refreshed(kb.rollback(doc_id, version, staff_name(request)), doc_id)

        def remove_fn(doc_id, request: gr.Request):
            return refreshed(kb.remove(doc_id, staff_name(request)), doc_id)

        def upload_fn(path, doc_id, request: gr.Request):
            return refreshed(kb.upload(path, staff_name(request)), doc_id)

        save.click(save_fn, [doc, body], after, api_name="kb_edit", concurrency_limit=1)
        rollback.click(
            rollback_fn, [doc, target], after, api_name="kb_rollback", concurrency_limit=1
        )
        remove.click(remove_fn, doc, after, api_name="kb_remove", concurrency_limit=1)
        send.click(upload_fn, [upload, doc], after, api_name="kb_upload", concurrency_limit=1)


def _quarantine(kb: KnowledgeConsole) -> None:
    with gr.Tab("Quarantine"):
        gr.Markdown(
            "Versions held because they look like instructions to the assistant or hide "
            "text. Read them; approve only what you would publish yourself."
        )
        table = gr.Dataframe(kb.quarantine, interactive=False)
        with gr.Row():
            doc_id = gr.Textbox(label="Document id", max_length=80)
            version = gr.Number(label="Version", precision=0)
        text = gr.Markdown()
        approve = gr.Button("Approve and publish", variant="primary")
        result = gr.Markdown()

        def selected(event: gr.SelectData):
            row = getattr(event, "row_value", None) or [None, None]
            return row[0], row[1]

        table.select(selected, None, [doc_id, version], api_visibility="private")
        gr.on(
            [doc_id.change, version.change],
            kb.quarantined_text,
            [doc_id, version],
            text,
            api_name="kb_quarantined",
        )

        def approve_fn(doc, number, request: gr.Request):
            return kb.approve(doc, number, staff_name(request)), kb.quarantine()

        approve.click(
            approve_fn,
            [doc_id, version],
            [result, table],
            api_name="kb_approve",
            concurrency_limit=1,
        )


def _retrieval(kb: KnowledgeConsole) -> None:
    with gr.Tab("What would the assistant retrieve?"):
        query = gr.Textbox(label="A customer's question", max_length=500)
        hits = gr.Dataframe(interactive=False, wrap=True)
        query.submit(kb.retrieve, query, hits, api_name="kb_search")
        gr.Button("Search").click(kb.retrieve, query, hits, api_visibility="private")

"""PolicyStore: the knowledge base's service API (staff CLI, staff console and agents call it).

Truth lives in SQL (`knowledge.models`); Chroma is an index of the current version of each
document. A new version is written to Chroma under version-specific ids *before* the SQL
commit that makes it current, and the superseded version's passages are deleted after it.
A search reads the current-version map from SQL, queries Chroma restricted to exactly those
versions, and reads the map again: if a commit slipped in between, it asks again. So a search
never sees two versions of a document (the filter) and never neither (the old passages can
only vanish after a commit the second read would notice). On start, `reconcile` repairs
Chroma from SQL after a crash between those steps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from openinference.semconv.trace import (
    DocumentAttributes,
    OpenInferenceSpanKindValues,
    SpanAttributes,
)
from opentelemetry import trace
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from knowledge import errors
from knowledge.chunking import Chunk, split
from knowledge.diffs import summarise
from knowledge.documents import DocumentSource, content_hash, read_document
from knowledge.embeddings import embed
from knowledge.index import Hit, PolicyIndex, version_key
from knowledge.models import PolicyDocument, PolicyVersion
from knowledge.passages import Passage
from knowledge.records import (
    DocumentInfo,
    ReconcileReport,
    VersionInfo,
    document_info,
    version_info,
    version_row,
)
from knowledge.screening import screen
from shop import audit
from shop.audit import AuditEntry
from shop.db import Base, default_engine, transaction
from shop.faults import checkpoint

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# Cosine similarity below which a passage is noise: the assistant should say it does not know.
# Calibrated by `python -m evals retrieval`: at 0.25, 72 of 73 customer questions keep a passage
# (the one below retrieves a wrong document first anyway) and all 24 off-topic questions get none
# (their best passage scores at most 0.22).
RELEVANCE_THRESHOLD = 0.25
SYSTEM_AUTHOR = "system"
DEFAULT_CATEGORY = "general"
FILTER_FIELDS = {"doc_id", "category", "section", "title"}
SERVED_SQL = (
    f"SELECT doc_id, current_version FROM {PolicyDocument.__tablename__} "
    "WHERE current_version IS NOT NULL"
)
MAP_ATTEMPTS = 5  # re-reads of the version map when staff publish during a search
# Joins each document to the version it serves (removed and unpublished documents drop out).
SERVED_VERSION = (PolicyDocument.doc_id == PolicyVersion.doc_id) & (
    PolicyDocument.current_version == PolicyVersion.version
)


@dataclass
class _Draft:
    """A version about to be written."""

    action: str
    status: str
    title: str
    category: str
    effective_date: date
    body: str
    source: str
    diff_summary: str
    reasons: list[str] = field(default_factory=list)
    based_on: int | None = None

    @classmethod
    def like(cls, row: PolicyVersion, **changes: Any) -> _Draft:
        """A draft with `row`'s content and metadata, except `changes`."""
        fields = ("title", "category", "effective_date", "body", "source")
        return cls(**{name: getattr(row, name) for name in fields} | changes)


def ensure_schema(engine: Engine) -> None:
    """Create the knowledge tables (and the audit log they write to) if missing."""
    tables = [PolicyDocument.__table__, PolicyVersion.__table__, AuditEntry.__table__]
    Base.metadata.create_all(engine, tables=tables)


def actor_for(author: str) -> str:
    return SYSTEM_AUTHOR if author == SYSTEM_AUTHOR else f"staff:{author}"


class PolicyStore:
    def __init__(
        self,
        engine: Engine | None = None,
        index: PolicyIndex | None = None,
        *,
        threshold: float = RELEVANCE_THRESHOLD,
        reconcile: bool = True,
    ) -> None:
        self.engine = engine or default_engine()
        ensure_schema(self.engine)
        self.index = index or PolicyIndex()
        self.threshold = threshold
        if reconcile:
            self.reconcile()

    # ----- writes -------------------------------------------------------------------------

    def add(self, source: Path | DocumentSource, *, author: str) -> VersionInfo:
        """Publish a new document (or re-publish a removed one) as its next version."""
        with self._refusals("add", author, {"source": _name(source)}):
            src = _load(source)
            doc, latest = self._snapshot(src.doc_id)
            if latest is not None and latest.status != "removal":
                raise errors.DocumentExists(
                    f"{src.doc_id} already exists (v{latest.version}); use edit to change it"
                )
            draft = self._content_draft("add", src, base=None)
            return self._commit(src.doc_id, doc, draft, author)

    def edit(self, doc_id: str, source: Path | DocumentSource, *, author: str) -> VersionInfo:
        """Replace a document's content; the file's own id is ignored in favour of `doc_id`."""
        with self._refusals("edit", author, {"doc_id": doc_id, "source": _name(source)}):
            src = _load(source, doc_id).model_copy(update={"doc_id": doc_id})
            doc, latest = self._snapshot(doc_id)
            if latest is None or latest.status == "removal":
                raise errors.DocumentNotFound(f"no document {doc_id!r} to edit (add it instead)")
            draft = self._content_draft("edit", src, base=latest)
            return self._commit(doc_id, doc, draft, author)

    def remove(self, doc_id: str, *, author: str) -> VersionInfo:
        """Stop serving a document; the removal is a version, so rollback can undo it."""
        with self._refusals("remove", author, {"doc_id": doc_id}):
            doc, latest = self._snapshot(doc_id)
            if latest is None or latest.status == "removal":
                raise errors.DocumentNotFound(f"no document {doc_id!r} to remove")
            served = doc.current_version if doc else None
            draft = _Draft.like(
                latest,
                action="remove",
                status="removal",
                body="",
                source="",
                diff_summary=f"removed (was v{served})" if served else "removed before publishing",
            )
            return self._commit(doc_id, doc, draft, author)

    def rollback(self, doc_id: str, version: int, *, author: str) -> VersionInfo:
        """Publish the content of an earlier published `version` again, as a new version."""
        with self._refusals("rollback", author, {"doc_id": doc_id, "version": version}):
            doc, latest = self._snapshot(doc_id)
            target = self._version(doc_id, version)
            if target.status != "published":
                raise errors.InvalidVersionAction(
                    f"{doc_id} v{version} was never published ({target.status}); "
                    "only published versions can be restored"
                )
            if doc is not None and doc.current_version == version:
                raise errors.NoChange(f"{doc_id} v{version} is already the current version")
            current_body = latest.body if latest and latest.status != "removal" else None
            change = summarise(current_body, target.body) if current_body else "restored"
            draft = _Draft.like(
                target,
                action="rollback",
                status="published",
                diff_summary=f"rollback to v{version}: {change}",
                based_on=version,
            )
            return self._commit(doc_id, doc, draft, author)

    def approve_quarantined(self, doc_id: str, version: int, *, author: str) -> VersionInfo:
        """A member of staff has read a quarantined version and vouches for it: publish it."""
        with self._refusals("approve", author, {"doc_id": doc_id, "version": version}):
            target = self._version(doc_id, version)
            if target.status != "quarantined":
                raise errors.InvalidVersionAction(
                    f"{doc_id} v{version} is {target.status}, not awaiting approval"
                )
            chunks, vectors = _prepare(target.title, target.body)
            key = version_key(doc_id, version)
            try:
                with transaction(self.engine) as session:
                    doc = self._locked(session, doc_id)
                    row = session.get(PolicyVersion, target.id)
                    if row is None or row.status != "quarantined" or doc is None:
                        raise errors.ConcurrentEdit(f"{doc_id} v{version} changed meanwhile")
                    self._refuse_duplicate(session, doc_id, row.content_hash)
                    self._put(doc_id, version, _meta(row), chunks, vectors)
                    now = datetime.now(UTC)
                    row.status, row.approved_by, row.approved_at = "published", author, now
                    row.chunk_count = len(chunks)
                    doc.current_version, doc.updated_at = version, now
                    audit.record(
                        session,
                        actor=actor_for(author),
                        action="knowledge.approve",
                        arguments={"doc_id": doc_id, "version": version},
                        outcome="ok",
                        detail="; ".join(row.quarantine_reasons)[:4000],
                    )
                    session.flush()
                    info = version_info(row, doc)
            except BaseException:
                self._forget(key)
                raise
            self._after_commit(doc_id, version)
            return info

    # ----- reads --------------------------------------------------------------------------

    def list_documents(self, *, include_removed: bool = False) -> list[DocumentInfo]:
        with transaction(self.engine) as session:
            docs = session.scalars(select(PolicyDocument).order_by(PolicyDocument.doc_id)).all()
            infos = [document_info(session, doc) for doc in docs]
        return [i for i in infos if include_removed or i.state != "removed"]

    def show(self, doc_id: str, version: int | None = None) -> VersionInfo:
        """A version with its body: by default the one served (or the latest if none is)."""
        with transaction(self.engine) as session:
            doc = _document(session, doc_id)
            number = version or doc.current_version or doc.latest_version
            row = version_row(session, doc_id, number)
            return version_info(row, doc, with_body=True)

    def history(self, doc_id: str) -> list[VersionInfo]:
        with transaction(self.engine) as session:
            doc = _document(session, doc_id)
            rows = session.scalars(
                select(PolicyVersion)
                .where(PolicyVersion.doc_id == doc_id)
                .order_by(PolicyVersion.version)
            ).all()
            return [version_info(row, doc) for row in rows]

    def quarantined(self) -> list[VersionInfo]:
        """Versions awaiting a staff decision, oldest first."""
        with transaction(self.engine) as session:
            rows = session.scalars(
                select(PolicyVersion)
                .where(PolicyVersion.status == "quarantined")
                .order_by(PolicyVersion.created_at)
            ).all()
            return [
                version_info(row, session.get(PolicyDocument, row.doc_id), with_body=True)
                for row in rows
            ]

    def search(
        self, query: str, k: int = 3, filters: dict[str, Any] | None = None
    ) -> list[Passage]:
        """The `k` best passages of current versions scoring at least the threshold, best first."""
        unknown = set(filters or {}) - FILTER_FIELDS
        if unknown:
            raise ValueError(f"cannot filter on {sorted(unknown)}; use {sorted(FILTER_FIELDS)}")
        with tracer.start_as_current_span("knowledge.search") as span:
            span.set_attribute(
                SpanAttributes.OPENINFERENCE_SPAN_KIND, OpenInferenceSpanKindValues.RETRIEVER.value
            )
            span.set_attribute(SpanAttributes.INPUT_VALUE, query)
            span.set_attribute("retrieval.k", k)
            passages = self._search(query, k, filters) if query.strip() else []
            span.set_attribute("retrieval.threshold", self.threshold)
            for i, passage in enumerate(passages):
                prefix = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}."
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_ID, passage.citation)
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_CONTENT, passage.text)
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_SCORE, passage.score)
                metadata = passage.model_dump(mode="json", exclude={"text", "score"})
                span.set_attribute(
                    prefix + DocumentAttributes.DOCUMENT_METADATA, json.dumps(metadata)
                )
            return passages

    def _search(self, query: str, k: int, filters: dict[str, Any] | None) -> list[Passage]:
        vector = embed([query])[0]
        hits: list[Hit] = []
        served = self.served()
        for _ in range(MAP_ATTEMPTS):
            if not served:
                return []
            hits = self.index.query(vector, sorted(served), k, filters)
            again = self.served()
            if again == served:
                break
            served = again
        return [
            Passage(
                text=hit.text,
                doc_id=hit.meta.doc_id,
                title=hit.meta.title,
                section=hit.meta.section,
                category=hit.meta.category,
                version=hit.meta.version,
                effective_date=hit.meta.effective_date,
                score=round(hit.score, 4),
            )
            for hit in hits
            if hit.score >= self.threshold
        ]

    def served(self) -> set[str]:
        """The `doc_id@version` keys the index serves now, read from SQL.

        A plain read outside any transaction: on SQLite the project's transactions begin
        with the write lock (BEGIN IMMEDIATE), and a customer's question must neither queue
        behind a staff write nor hold up the store's writes. WAL gives it the last commit.
        """
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(SERVED_SQL)
            rows = cursor.fetchall()
            cursor.close()
            connection.rollback()  # ends PostgreSQL's implicit read transaction
        finally:
            connection.close()
        return {version_key(doc_id, version) for doc_id, version in rows}

    # ----- repair -------------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make Chroma hold exactly the current versions that SQL names (SQL is the truth).

        Passages of versions above a document's latest are left alone: a writer in another
        process may be about to commit them, and they are never served until it does.
        """
        with transaction(self.engine) as session:
            docs = {d.doc_id: d for d in session.scalars(select(PolicyDocument))}
            current = {
                version_key(row.doc_id, row.version): row
                for row in session.scalars(
                    select(PolicyVersion).join(PolicyDocument, SERVED_VERSION)
                )
            }
            session.expunge_all()
        present = self.index.inventory()
        missing = [key for key, row in current.items() if present.get(key) != row.chunk_count]
        stale = [key for key in present if key not in current and _settled(key, docs)]
        for key in missing:
            row = current[key]
            chunks, vectors = _prepare(row.title, row.body)
            self._put(row.doc_id, row.version, _meta(row), chunks, vectors)
        self.index.drop_keys(stale)
        report = ReconcileReport(reindexed=sorted(missing), deleted=sorted(stale))
        if missing or stale:
            with transaction(self.engine) as session:
                audit.record(
                    session,
                    actor=SYSTEM_AUTHOR,
                    action="knowledge.reconcile",
                    arguments=report.model_dump(),
                    outcome="ok",
                    detail="index repaired from the version table",
                )
        return report

    # ----- internals ----------------------------------------------------------------------

    def _snapshot(self, doc_id: str) -> tuple[PolicyDocument | None, PolicyVersion | None]:
        with transaction(self.engine) as session:
            doc = session.get(PolicyDocument, doc_id)
            latest = version_row(session, doc_id, doc.latest_version) if doc else None
            session.expunge_all()
        return doc, latest

    def _version(self, doc_id: str, version: int) -> PolicyVersion:
        with transaction(self.engine) as session:
            _document(session, doc_id)
            row = version_row(session, doc_id, version)
            session.expunge_all()
        return row

    def _content_draft(
        self, action: str, src: DocumentSource, base: PolicyVersion | None
    ) -> _Draft:
        title = src.title or (base.title if base else src.doc_id.replace("-", " ").capitalize())
        category = src.category or (base.category if base else DEFAULT_CATEGORY)
        effective = src.effective_date or datetime.now(UTC).date()
        if base is not None and (
            base.content_hash,
            base.title,
            base.category,
            base.effective_date,
        ) == (src.content_hash, title, category, effective):
            raise errors.NoChange(f"{src.name}: identical to {src.doc_id} v{base.version}")
        verdict = screen(src.body, src.hidden)
        return _Draft(
            action=action,
            status="quarantined" if verdict.quarantine else "published",
            title=title,
            category=category,
            effective_date=effective,
            body=src.body,
            source=src.name,
            reasons=verdict.reasons,
            diff_summary=summarise(
                base.body if base else None,
                src.body,
                title_change=(base.title, title) if base else None,
            ),
        )

    def _commit(
        self, doc_id: str, seen: PolicyDocument | None, draft: _Draft, author: str
    ) -> VersionInfo:
        """Write `draft` as the next version: index first, then the SQL commit, then cleanup."""
        publish = draft.status == "published"
        chunks, vectors = _prepare(draft.title, draft.body) if publish else ([], None)
        digest = content_hash(draft.body)
        expected = seen.latest_version if seen else 0
        version = expected + 1
        try:
            with transaction(self.engine) as session:
                doc = self._locked(session, doc_id)
                if (doc.latest_version if doc else 0) != expected:
                    raise errors.ConcurrentEdit(
                        f"{doc_id} changed while this version was prepared; try again"
                    )
                if publish:
                    self._refuse_duplicate(session, doc_id, digest)
                    self._put(doc_id, version, _meta(draft), chunks, vectors)
                info = _record_version(
                    session, doc, doc_id, version, draft, author, digest, len(chunks)
                )
        except BaseException:
            if publish:
                self._forget(version_key(doc_id, version))
            raise
        if draft.status != "quarantined":
            self._after_commit(doc_id, version)
        return info

    def _put(
        self,
        doc_id: str,
        version: int,
        meta: dict[str, Any],
        chunks: list[Chunk],
        vectors: np.ndarray,
    ) -> None:
        # a crashed attempt at this same version may have left passages under this key
        self.index.drop_keys([version_key(doc_id, version)])
        self.index.put(doc_id, version, meta, chunks, vectors)
        checkpoint("knowledge.indexed")

    def _after_commit(self, doc_id: str, version: int) -> None:
        """Delete what the new version superseded (a crash here is repaired by `reconcile`)."""
        checkpoint("knowledge.committed")
        try:
            self.index.drop(doc_id, below=version)
        except Exception:  # the version is committed and served; stale passages are filtered out
            log.warning("stale passages of %s kept below v%s", doc_id, version, exc_info=True)

    def _forget(self, key: str) -> None:
        """Best effort: a failed write's passages are never served, and reconcile sweeps them."""
        with suppress(Exception):  # the write's own exception is the one worth raising
            self.index.drop_keys([key])

    @staticmethod
    def _locked(session: Session, doc_id: str) -> PolicyDocument | None:
        # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs the row lock
        return session.scalars(
            select(PolicyDocument).where(PolicyDocument.doc_id == doc_id).with_for_update()
        ).one_or_none()

    @staticmethod
    def _refuse_duplicate(session: Session, doc_id: str, digest: str) -> None:
        other = session.execute(
            select(PolicyVersion.doc_id, PolicyVersion.version)
            .join(PolicyDocument, SERVED_VERSION)
            .where(PolicyVersion.content_hash == digest, PolicyVersion.doc_id != doc_id)
        ).first()
        if other:
            raise errors.DuplicateDocument(
                f"same text as the published document {other[0]} (v{other[1]})"
            )

    @contextmanager
    def _refusals(self, action: str, author: str, arguments: dict[str, Any]) -> Iterator[None]:
        """Record a refused staff request in the audit log (its own transaction), re-raise."""
        try:
            yield
        except errors.KnowledgeError as exc:
            with transaction(self.engine) as session:
                audit.record(
                    session,
                    actor=actor_for(author),
                    action=f"knowledge.{action}",
                    arguments=arguments,
                    outcome="refused",
                    detail=str(exc),
                )
            raise


def _record_version(
    session: Session,
    doc: PolicyDocument | None,
    doc_id: str,
    version: int,
    draft: _Draft,
    author: str,
    digest: str,
    chunk_count: int,
) -> VersionInfo:
    """The SQL side of a new version, in the caller's transaction: the version row, the document
    pointing at it, and its audit entry. A newer version supersedes any awaiting approval."""
    now = datetime.now(UTC)
    if doc is None:
        doc = PolicyDocument(doc_id=doc_id, latest_version=0, created_at=now, updated_at=now)
        session.add(doc)
    session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.doc_id == doc_id, PolicyVersion.status == "quarantined")
        .values(status="discarded")
    )
    row = PolicyVersion(
        doc_id=doc_id,
        version=version,
        action=draft.action,
        status=draft.status,
        title=draft.title,
        category=draft.category,
        effective_date=draft.effective_date,
        body=draft.body,
        content_hash=digest,
        source=draft.source,
        author=author,
        created_at=now,
        diff_summary=draft.diff_summary[:2000],
        quarantine_reasons=draft.reasons,
        chunk_count=chunk_count,
        based_on=draft.based_on,
    )
    session.add(row)
    doc.latest_version, doc.updated_at = version, now
    if draft.status == "published":
        doc.current_version = version
    elif draft.status == "removal":
        doc.current_version = None
    checkpoint("knowledge.commit")
    audit.record(
        session,
        actor=actor_for(author),
        action=f"knowledge.{draft.action}",
        arguments={"doc_id": doc_id, "version": version, "source": draft.source},
        outcome="ok" if draft.status != "quarantined" else "quarantined",
        detail=draft.diff_summary + "".join(f"; {r}" for r in draft.reasons),
    )
    session.flush()
    return version_info(row, doc)


def _document(session: Session, doc_id: str) -> PolicyDocument:
    doc = session.get(PolicyDocument, doc_id)
    if doc is None:
        raise errors.DocumentNotFound(f"no document {doc_id!r}")
    return doc


def _name(source: Path | DocumentSource) -> str:
    return source.name if isinstance(source, DocumentSource) else str(source)


def _load(source: Path | DocumentSource, doc_id: str | None = None) -> DocumentSource:
    return source if isinstance(source, DocumentSource) else read_document(Path(source), doc_id)


def _prepare(title: str, body: str) -> tuple[list[Chunk], np.ndarray]:
    """Passages of a version and their embeddings (computed before any lock is taken)."""
    chunks = split(body)
    if not chunks:
        raise errors.EmptyDocument(f"{title}: no passage long enough to publish")
    # the title and section lead each embedding: customers ask about "refunds", not "¶ 3"
    vectors = embed([f"{title}. {c.section}.\n{c.text}" for c in chunks])
    return chunks, vectors


def _meta(version: PolicyVersion | _Draft) -> dict[str, Any]:
    fields = ("title", "category", "effective_date")
    return {name: getattr(version, name) for name in fields}


def _settled(key: str, docs: dict[str, PolicyDocument]) -> bool:
    """A non-current version SQL already knows about (not one a writer may be committing)."""
    doc_id, _, version = key.rpartition("@")
    doc = docs.get(doc_id)
    return doc is not None and int(version) <= doc.latest_version

"""What the knowledge base reports about documents and versions (read models for staff tools)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import errors
from knowledge.models import PolicyDocument, PolicyVersion


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    category: str
    effective_date: date
    current_version: int | None
    latest_version: int
    state: Literal["published", "removed", "quarantined"]
    updated_at: datetime


class VersionInfo(BaseModel):
    doc_id: str
    version: int
    action: str
    status: str
    current: bool
    title: str
    category: str
    effective_date: date
    author: str
    created_at: datetime
    diff_summary: str
    quarantine_reasons: list[str]
    chunk_count: int
    based_on: int | None
    approved_by: str | None
    source: str
    body: str | None = None


class ReconcileReport(BaseModel):
    reindexed: list[str]
    deleted: list[str]


def version_row(session: Session, doc_id: str, version: int) -> PolicyVersion:
    row = session.scalars(
        select(PolicyVersion).where(
            PolicyVersion.doc_id == doc_id, PolicyVersion.version == version
        )
    ).one_or_none()
    if row is None:
        raise errors.VersionNotFound(f"{doc_id} has no version {version}")
    return row


def version_info(
    row: PolicyVersion, doc: PolicyDocument | None, *, with_body: bool = False
) -> VersionInfo:
    return VersionInfo(
        doc_id=row.doc_id,
        version=row.version,
        action=row.action,
        status=row.status,
        current=doc is not None and doc.current_version == row.version,
        title=row.title,
        category=row.category,
        effective_date=row.effective_date,
        author=row.author,
        created_at=row.created_at,
        diff_summary=row.diff_summary,
        quarantine_reasons=list(row.quarantine_reasons or []),
        chunk_count=row.chunk_count,
        based_on=row.based_on,
        approved_by=row.approved_by,
        source=row.source,
        body=row.body if with_body else None,
    )


def document_info(session: Session, doc: PolicyDocument) -> DocumentInfo:
    row = version_row(session, doc.doc_id, doc.current_version or doc.latest_version)
    if doc.current_version is not None:
        state = "published"
    elif row.status == "removal":
        state = "removed"
    else:
        state = "quarantined"
    return DocumentInfo(
        doc_id=doc.doc_id,
        title=row.title,
        category=row.category,
        effective_date=row.effective_date,
        current_version=doc.current_version,
        latest_version=doc.latest_version,
        state=state,
        updated_at=doc.updated_at,
    )

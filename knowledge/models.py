"""SQL tables of the knowledge base: documents and every version of them (the source of truth).

`PolicyDocument.current_version` is the one version the index serves for a document (None when
it is removed, or exists only in quarantine). Chroma holds passages of that version, and may
briefly hold others while a version changes; searches filter on this map, and `PolicyStore`
repairs Chroma from these tables on start.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shop.db import Base

VersionAction = Literal["add", "edit", "remove", "rollback", "seed"]
# published: approved content (served while it is the document's current version);
# quarantined: held for staff review, never served; discarded: a quarantined version that a
# newer version overtook before anyone approved it; removal: the marker of a removal.
VersionStatus = Literal["published", "quarantined", "discarded", "removal"]


class PolicyDocument(Base):
    __tablename__ = "policy_documents"

    doc_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    current_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latest_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("doc_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(ForeignKey("policy_documents.doc_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60))
    effective_date: Mapped[date] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    diff_summary: Mapped[str] = mapped_column(String(2000))
    quarantine_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    based_on: Mapped[int | None] = mapped_column(Integer, nullable=True)  # rollback source
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

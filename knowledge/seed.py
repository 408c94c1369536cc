"""Loading the shipped policy documents into a fresh knowledge base (the app calls this on start).

Only documents the database has never seen are added: once staff have edited or removed a
document, the database is the truth and the shipped file is not applied again. When nothing is
new this costs a directory listing and one query, and no model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from knowledge import errors
from knowledge.documents import read_document
from knowledge.models import PolicyDocument
from knowledge.store import SYSTEM_AUTHOR, PolicyStore
from shop.db import transaction

POLICIES_DIR = Path(__file__).resolve().parent / "policies"


def ensure_ingested(
    engine: Engine | None = None,
    *,
    store: PolicyStore | None = None,
    directory: Path = POLICIES_DIR,
) -> PolicyStore:
    """A ready `PolicyStore` holding every shipped document (added once, by `system`)."""
    store = store or PolicyStore(engine)
    with transaction(store.engine) as session:
        known = set(session.scalars(select(PolicyDocument.doc_id)))
    for path in sorted(directory.glob("*.md")):
        source = read_document(path)
        if source.doc_id in known:
            continue
        try:
            store.add(source, author=SYSTEM_AUTHOR)
        except (errors.DocumentExists, errors.ConcurrentEdit, IntegrityError):
            if not _known(store, source.doc_id):
                raise
            # another replica seeded it first
    return store


def _known(store: PolicyStore, doc_id: str) -> bool:
    with transaction(store.engine) as session:
        return session.get(PolicyDocument, doc_id) is not None

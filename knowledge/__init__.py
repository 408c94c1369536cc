"""The policy knowledge base: documents, versions, the Chroma index and cited retrieval.

Service API (the staff CLI, the staff console and the agents all call these):

- `ensure_ingested(engine=None) -> PolicyStore`: a ready store, shipped policies loaded once.
- `PolicyStore(engine=None, index=None)`: `search`, `add`, `edit`, `remove`, `rollback`,
  `approve_quarantined`, `list_documents`, `show`, `history`, `quarantined`, `reconcile`.
- `Passage` and `passages_as_data(passages)`: how retrieved text reaches an agent.
- `parse_document(name, data)`: validate an uploaded file before `add` / `edit`.

Names resolve lazily so `knowledge.embeddings` users do not import Chroma.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PolicyStore": "knowledge.store",
    "DocumentInfo": "knowledge.records",
    "VersionInfo": "knowledge.records",
    "ensure_ingested": "knowledge.seed",
    "Passage": "knowledge.passages",
    "passages_as_data": "knowledge.passages",
    "parse_document": "knowledge.documents",
    "KnowledgeError": "knowledge.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

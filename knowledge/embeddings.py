"""The one sentence-embedding model of the project (MiniLM, shipped inside a PyPI package).

The policy store, the intent router and the injection detector all embed through `embed`, so
the model is in memory once per process. It is served from an ONNX export of the packaged
sentence-transformers model (`knowledge.onnx_export`): the same vectors, checked at export,
at about 8 ms per query instead of 20 on these cores. The export is made on first use and kept
in MODEL_CACHE_DIR; never anything from a hub.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

import settings
from knowledge import onnx_export
from knowledge.onnx_encoder import DIMENSIONS, OnnxEncoder, UnloadableGraph

__all__ = ["DIMENSIONS", "embed", "embed_one", "graph_path", "model_key"]

# Up to this many texts go to the single-threaded session (queries, a message's parts);
# larger batches (ingest, training) use every core. Batches of 8 beat 64 on these cores (policy
# and injection texts vary in length; measured 19 vs 29 ms per text on busy cores).
SMALL_BATCH = 8
EXPORT_TIMEOUT_S = 900  # about 15 s on 2 idle cores; generous for a busy first start
_lock = threading.Lock()
_encoders: dict[int, OnnxEncoder] = {}


def graph_path() -> Path:
    """The cached ONNX graph of the installed model, exported now if missing.

    The export runs in a child process: it needs torch (~500 MB resident), which the serving
    process would otherwise carry for the rest of its life.
    """
    path = onnx_export.onnx_path(settings.get().model_cache_dir)
    if not path.is_file():
        command = [sys.executable, "-m", "knowledge.onnx_export", str(path)]
        # The project on the child's path whatever the caller's (python -P, a set PYTHONPATH).
        path_entries = [str(settings.ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path_entries if p)}
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                cwd=settings.ROOT,
                env=env,
                timeout=EXPORT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as error:
            raise onnx_export.EmbeddingExportError(f"export took over {error.timeout} s") from None
        if done.returncode != 0 or not path.is_file():
            reason = done.stderr.strip()[-2000:]
            raise onnx_export.EmbeddingExportError(f"export exited {done.returncode}: {reason}")
    return path


def model_key() -> str:
    """Names the installed model: what is trained on its vectors is valid for this key only."""
    return onnx_export.cache_key(onnx_export.model_dir())


def _encoder(threads: int) -> OnnxEncoder:
    with _lock:  # threads arriving together load the model once
        if threads not in _encoders:
            _encoders[threads] = _load(threads)
        return _encoders[threads]


def _load(threads: int) -> OnnxEncoder:
    path = graph_path()
    try:
        return OnnxEncoder(path, onnx_export.model_dir(), threads=threads)
    except UnloadableGraph:  # damaged on disk (a crash, a full disk): export it again, once
        path.unlink(missing_ok=True)
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

"""Plain-array files for models trained on the embeddings (intent router, injection detector).

`.npz` without pickle: a cache file cannot run code. They live in MODEL_CACHE_DIR, shared by
every process and data dir on the machine, so a write must never be seen half done and a
damaged file must read as "absent" (retrain) rather than stop a start.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# What reading a truncated, foreign or incomplete file raises.
UNREADABLE = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def write(path: Path, **arrays: np.ndarray) -> None:
    """Write then rename: readers see the old file or the whole new one, writers never mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz.part", delete=False) as f:
        np.savez(f, **arrays)
    os.chmod(f.name, 0o644)  # shared by the machine's users, like the model itself
    os.replace(f.name, path)


def read(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}

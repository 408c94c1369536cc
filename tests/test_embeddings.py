"""The ONNX-served MiniLM embeds exactly like the packaged sentence-transformers model."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import settings
from knowledge import embeddings, onnx_export

TEXTS = [
    pytest.param("where is my order #W2378156?", id="order-question"),
    pytest.param("", id="empty"),
    pytest.param("   \n\t ", id="whitespace"),
    pytest.param("Café crème, naïve façade — ¿dónde está mi pedido? 🚚📦", id="accents-emoji"),
    pytest.param("RETURN THE BLUE SHIRT!!!", id="shouting"),
    pytest.param("refund " * 400, id="longer-than-window"),
    pytest.param("我的订单在哪里", id="cjk"),
    pytest.param("<b>hidden</b> {{json}} \\x00 `code`", id="markup"),
]


@pytest.fixture(scope="module")
def original():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(onnx_export.model_dir()), device="cpu")


@pytest.mark.parametrize("text", TEXTS)
def test_onnx_vector_matches_sentence_transformers(original, text):
    expected = original.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
    got = embeddings.embed_one(text)
    assert got.shape == (embeddings.DIMENSIONS,)
    assert got.dtype == np.float32
    assert float(np.dot(expected, got)) >= onnx_export.MIN_COSINE
    assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-4


def test_a_batch_keeps_the_callers_order_and_each_texts_vector():
    texts = [p.values[0] for p in TEXTS] * 3  # > SMALL_BATCH: the multi-threaded session
    batch = embeddings.embed(texts, batch_size=4)
    singles = np.stack([embeddings.embed_one(t) for t in texts])
    assert batch.shape == (len(texts), embeddings.DIMENSIONS)
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_no_texts_give_an_empty_matrix():
    assert embeddings.embed([]).shape == (0, embeddings.DIMENSIONS)


def test_a_graph_that_fails_verification_is_not_kept(tmp_path, monkeypatch):
    def disagree(*_args):
        raise onnx_export.EmbeddingExportError("planted disagreement")

    monkeypatch.setattr(onnx_export, "_verify", disagree)
    target = tmp_path / "minilm.onnx"
    with pytest.raises(onnx_export.EmbeddingExportError):
        onnx_export.export(target)
    left = [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")]
    assert left == []  # neither the graph nor a partial file


def test_serving_the_cached_graph_does_not_import_torch():
    embeddings.graph_path()  # exported by now (the tests above), or made here
    probe = (
        "import sys; from knowledge.embeddings import embed; embed(['where is my parcel']); "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "MODEL_CACHE_DIR": str(settings.get().model_cache_dir)}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=settings.ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_export_that_cannot_be_written_fails_with_the_reason(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(blocker / "models"))
    settings.get.cache_clear()
    try:
        with pytest.raises(onnx_export.EmbeddingExportError, match=r"NotADirectoryError|Errno"):
            embeddings.graph_path()
    finally:
        settings.get.cache_clear()


def test_the_cache_key_names_the_files_by_their_recorded_hashes_not_their_install_time():
    """A fresh venv reinstalls the same files with new mtimes; the cache must still apply."""
    directory = onnx_export.model_dir()
    recorded = onnx_export._recorded_hashes(directory)
    assert set(recorded) == set(onnx_export.MODEL_FILES)
    assert all(len(value) >= 40 for value in recorded.values())  # sha256, urlsafe base64


@pytest.mark.slow
def test_a_damaged_graph_on_disk_is_exported_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    settings.get.cache_clear()
    monkeypatch.setattr(embeddings, "_encoders", {})
    try:
        graph = onnx_export.onnx_path(tmp_path)
        graph.write_bytes(b"")  # what a crash between create and write could leave
        vector = embeddings.embed_one("where is my parcel")
        assert graph.stat().st_size > 1_000_000
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
        assert not list(tmp_path.glob("*.onnx.part"))
    finally:
        settings.get.cache_clear()

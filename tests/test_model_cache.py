"""Models trained on the embeddings are cached as plain arrays; a damaged file means retrain."""

from __future__ import annotations

import io

import numpy as np
import pytest

from crew.intent import classifier
from guardrails import injection_model
from knowledge import arrays


def _truncated_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.ones((3, 384), dtype=np.float32))
    return buffer.getvalue()[:200]


DAMAGED = [
    pytest.param(b"", id="empty"),
    pytest.param(b"this is not a zip file", id="text"),
    pytest.param(_truncated_npz(), id="truncated"),
    pytest.param(b"PK\x03\x04" + b"\x00" * 64, id="zip-header-only"),
]


@pytest.mark.parametrize("content", DAMAGED)
def test_a_damaged_file_reads_as_unreadable(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(arrays.UNREADABLE):
        arrays.read(path)


def test_a_written_file_reads_back_whole_and_leaves_no_scratch(tmp_path):
    path = tmp_path / "sub" / "model.npz"
    arrays.write(path, weights=np.arange(6.0).reshape(2, 3), bias=np.array(0.5))
    stored = arrays.read(path)
    np.testing.assert_array_equal(stored["weights"], np.arange(6.0).reshape(2, 3))
    assert float(stored["bias"]) == 0.5
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]
    assert path.stat().st_mode & 0o044  # readable by the machine's other users


@pytest.mark.parametrize("content", DAMAGED)
def test_a_damaged_detector_cache_is_ignored(tmp_path, content):
    path = tmp_path / "injection-detector-x.npz"
    path.write_bytes(content)
    assert injection_model._read(path, "x") is None


@pytest.mark.parametrize("content", DAMAGED)
def test_a_damaged_intent_cache_is_retrained(tmp_path, monkeypatch, content):
    examples = [("where is my order", "order_status")]
    (tmp_path / f"intent-{classifier.examples_key(examples)}.npz").write_bytes(content)
    trained = classifier.IntentModel(
        labels=("order_status",),
        weights=np.zeros((1, 384), dtype=np.float32),
        bias=np.zeros(1, dtype=np.float32),
        temperature=1.0,
    )
    monkeypatch.setattr(classifier, "train", lambda _examples: trained)
    assert classifier.load_or_train(examples, tmp_path) is trained
    reread = classifier.load_or_train(examples, tmp_path)  # the retrained model was cached
    assert reread.labels == ("order_status",)

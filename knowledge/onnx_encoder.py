"""Serve the exported MiniLM graph: tokenise with the model's own tokenizer, run onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from knowledge.onnx_export import INPUTS, max_seq_length

DIMENSIONS = 384
# What onnxruntime raises for a graph file it cannot load (its own classes, not OSError).
UnloadableGraph = (
    onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument,
    onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf,
    onnxruntime.capi.onnxruntime_pybind11_state.InvalidGraph,
    onnxruntime.capi.onnxruntime_pybind11_state.Fail,
)


class OnnxEncoder:
    """Unit-length MiniLM embeddings from the ONNX graph. Safe to call from several threads.

    `threads=1` runs each call on the caller's thread: a short query gains nothing from being
    split, and on shared cores a split call waits for its slowest part. `threads=0` lets
    onnxruntime use every core, for batches (with spinning off, so idle workers yield the CPU).
    """

    def __init__(self, graph: Path, model_dir: Path, threads: int = 1) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # As sentence-transformers does: its window (256), not tokenizer.json's fixed 128 padding.
        self._tokenizer.enable_truncation(max_seq_length(model_dir))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # Similar lengths together: each batch is padded only to its own longest text.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._run([texts[i] for i in chunk])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        feeds = dict(
            zip(
                INPUTS,
                (
                    ids,
                    np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    np.array([e.type_ids for e in encodings], dtype=np.int64),
                ),
                strict=True,
            )
        )
        return self._session.run(None, feeds)[0]

"""The intent model: MiniLM sentence embeddings + multinomial logistic regression.

Trained on the examples in `crew/config/intents.yaml` at first use and cached as plain arrays
(`.npz`, no pickle: a cache file cannot run code) in MODEL_CACHE_DIR, keyed by a hash of the
examples, the embedding model and everything else that shapes the model; a change retrains it.

Confidence is calibrated by temperature scaling fitted on cross-validated logits (the model
never scores its own training rows), so "0.8" means about 80 % right on unseen messages;
`python -m evals intent` checks that on held-out data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from crew.intent.entities import EMAIL, ORDER_ID
from crew.intent.models import LABELS, Label
from knowledge import arrays
from knowledge.embeddings import embed, model_key

log = logging.getLogger(__name__)

EXAMPLES_PATH = Path(__file__).resolve().parents[1] / "config" / "intents.yaml"
# Part of the cache key: bump when training or normalisation changes.
MODEL_VERSION = "minilm-l6-v2/logreg/temperature/2"
# Inverse regularisation: unit-length 384-d embeddings need a weak penalty to separate 13
# labels; the temperature then undoes the over-confidence that comes with it.
REGULARISATION_C = 20.0
CALIBRATION_FOLDS = 5


class ExamplesError(ValueError):
    """The training examples file is malformed (unknown label, empty label, not a mapping)."""


_DIGITS = re.compile(r"(?<![\w#])\d{5,}")


def normalise(text: str) -> str:
    """Same shape for every id, email and number, so the model learns the words around them."""
    text = ORDER_ID.sub("#W1234567", text)
    text = EMAIL.sub("name@example.com", text)
    return _DIGITS.sub("12345", " ".join(text.split()))


def load_examples(path: Path = EXAMPLES_PATH) -> list[tuple[str, Label]]:
    """(text, label) pairs from a YAML mapping `label: [texts]`; every label must have some."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ExamplesError(f"{path}: expected a mapping of label -> list of examples")
    unknown = set(data) - set(LABELS)
    missing = [label for label in LABELS if not data.get(label)]
    if unknown or missing:
        raise ExamplesError(f"{path}: unknown labels {sorted(unknown)}, empty labels {missing}")
    not_text = [(label, t) for label in LABELS for t in data[label] if not isinstance(t, str)]
    if not_text:
        raise ExamplesError(f"{path}: examples must be strings (quote yes/no): {not_text[:5]}")
    return [(text, label) for label in LABELS for text in data[label]]


def examples_key(examples: list[tuple[str, Label]]) -> str:
    # The embedding model is part of the key: weights fitted on one model's vectors mean
    # nothing on another's.
    payload = json.dumps(
        [MODEL_VERSION, REGULARISATION_C, model_key(), examples], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class IntentModel:
    labels: tuple[Label, ...]
    weights: np.ndarray  # (labels, 384)
    bias: np.ndarray  # (labels,)
    temperature: float

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated label probabilities, one row per embedded text."""
        return _softmax((vectors @ self.weights.T + self.bias) / self.temperature)

    def save(self, path: Path) -> None:
        arrays.write(
            path,
            labels=np.array(self.labels),
            weights=self.weights,
            bias=self.bias,
            temperature=np.array(self.temperature),
        )

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        data = arrays.read(path)
        return cls(
            labels=tuple(str(label) for label in data["labels"]),  # type: ignore[arg-type]
            weights=data["weights"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
            temperature=float(data["temperature"]),
        )


def train(examples: list[tuple[str, Label]]) -> IntentModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts = [normalise(text) for text, _ in examples]
    y = np.array([LABELS.index(label) for _, label in examples])
    vectors = embed(texts)
    classifier = LogisticRegression(C=REGULARISATION_C, max_iter=5000)
    folds = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=0)
    logits = cross_val_predict(classifier, vectors, y, cv=folds, method="decision_function")
    classifier.fit(vectors, y)
    labels = tuple(LABELS[i] for i in classifier.classes_)
    return IntentModel(
        labels=labels,
        weights=classifier.coef_.astype(np.float32),
        bias=classifier.intercept_.astype(np.float32),
        temperature=fit_temperature(logits, y),
    )


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of held-out logits."""
    candidates = np.exp(np.linspace(np.log(0.05), np.log(20.0), 200))
    rows = np.arange(len(y))

    def nll(t: float) -> float:
        return float(-np.log(_softmax(logits / t)[rows, y] + 1e-12).mean())

    return float(min(candidates, key=nll))


def load_or_train(examples: list[tuple[str, Label]], cache_dir: Path) -> IntentModel:
    """The cached model for exactly these examples, training (and caching) it if needed."""
    path = Path(cache_dir) / f"intent-{examples_key(examples)}.npz"
    if path.is_file():
        try:
            return IntentModel.load(path)
        except arrays.UNREADABLE as error:  # a damaged cache is rebuilt
            log.warning("intent model cache %s unreadable (%s): retraining", path, error)
    log.info("training the intent model on %d examples", len(examples))
    model = train(examples)
    model.save(path)
    return model


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)

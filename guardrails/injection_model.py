"""The injection classifier: MiniLM embeddings + logistic regression, trained at first use.

Training embeds about a thousand examples (tens of seconds on two busy cores), so the fitted
weights are cached as plain numbers (`.npz`, no pickle) in MODEL_CACHE_DIR, keyed by a hash of
the training data, this module's recipe and the embedding model: change any and it retrains.

The threshold is calibrated, not chosen: out-of-fold scores on the training split give an honest
picture of unseen benign customer messages, and the threshold is the lowest score that keeps
their false-positive rate within `FPR_TARGET` (below the 2 % budget, for margin), for each kind
of customer traffic separately.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import settings
from guardrails import injection_data, injection_rules
from knowledge import arrays, embeddings

log = logging.getLogger(__name__)

RECIPE = "minilm-logreg-v2"  # bump when the features, model or calibration change
FPR_TARGET = 0.015  # the budget is 2 %; calibrating on out-of-fold scores leaves some margin
REGULARISATION_C = 4.0  # best held-out recall at equal false-positive rate among 0.5..16
FOLDS = 5

_lock = threading.Lock()
_loaded: dict[str, Detector] = {}


@dataclass(frozen=True)
class Detector:
    weights: np.ndarray  # (384,)
    bias: float
    threshold: float
    key: str

    def scores_for(self, vectors: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(vectors @ self.weights + self.bias)))

    def scores(self, texts: list[str]) -> np.ndarray:
        """Probability of injection for each text, in [0, 1]."""
        return self.scores_for(embeddings.embed(texts))


def data_key() -> str:
    digest = hashlib.sha256(f"{RECIPE}|{FPR_TARGET}|{REGULARISATION_C}".encode())
    digest.update(embeddings.model_key().encode())
    # The loader and the rules (which filter the intent examples) shape the data as well.
    sources = [Path(injection_data.__file__), Path(injection_rules.__file__)]
    for path in [*injection_data.files(), *sources]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def calibrate(benign_scores: np.ndarray, target: float = FPR_TARGET) -> float:
    """The lowest threshold at which at most `target` of these benign scores would be flagged."""
    ordered = np.sort(benign_scores)[::-1]
    allowed = int(np.floor(target * len(ordered)))
    if allowed >= len(ordered):
        return 0.0
    # Flag strictly above the (allowed+1)-th highest benign score.
    return float(np.nextafter(ordered[allowed], 1.0))


def train(examples: list[injection_data.Example], key: str = "") -> Detector:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    vectors = embeddings.embed([e.text for e in examples])
    labels = np.array([e.label for e in examples])
    classifier = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=3000)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    out_of_fold = cross_val_predict(classifier, vectors, labels, cv=folds, method="predict_proba")[
        :, 1
    ]
    # Each kind of customer traffic must meet the budget on its own: the router's many short,
    # easy examples would otherwise hide the hard ones with trigger words ("ignore my email").
    threshold = max(
        calibrate(out_of_fold[[e.source == source and e.label == 0 for e in examples]])
        for source in sorted(injection_data.CUSTOMER_SOURCES)
        if any(e.source == source for e in examples)
    )
    classifier.fit(vectors, labels)
    return Detector(
        weights=classifier.coef_[0].astype(np.float32),
        bias=float(classifier.intercept_[0]),
        threshold=threshold,
        key=key,
    )


def _cache_path(key: str) -> Path:
    # Derived from code and shipped data only, so shared by every data dir (MODEL_CACHE_DIR).
    return settings.get().model_cache_dir / f"injection-detector-{key}.npz"


def _read(path: Path, key: str) -> Detector | None:
    try:
        stored = arrays.read(path)
        return Detector(
            weights=stored["weights"],
            bias=float(stored["bias"]),
            threshold=float(stored["threshold"]),
            key=key,
        )
    except arrays.UNREADABLE:
        return None


def _write(path: Path, detector: Detector) -> None:
    try:
        arrays.write(
            path,
            weights=detector.weights,
            bias=np.array(detector.bias),
            threshold=np.array(detector.threshold),
        )
    except OSError as error:  # a read-only cache costs a retrain per process, nothing worse
        log.warning("injection detector not cached at %s: %s", path, error)


def detector(cache: Path | None = None) -> Detector:
    """The trained detector (memory, then disk cache, then train on the training split)."""
    key = data_key()
    with _lock:
        if key in _loaded:
            return _loaded[key]
        path = (cache / f"injection-detector-{key}.npz") if cache else _cache_path(key)
        found = _read(path, key) if path.is_file() else None
        if found is None:
            log.info("training the injection detector (%s)", key)
            train_split, _ = injection_data.split(injection_data.load())
            found = train(train_split, key)
            _write(path, found)
        _loaded[key] = found
        return found

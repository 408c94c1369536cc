"""The front door: which workflows a message asks for, in order, and the entities it gives.

A message is split into its requests (`splitter`), each request is scored by the embedding
classifier (all of a message's segments in one embedding batch) or by an exact rule, and the
confident ones are returned in the customer's order. Below `THRESHOLD` nothing is returned:
the flow then asks what the customer meant instead of guessing a business action.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import trace

import settings
from crew.intent import rules
from crew.intent.catalog import Catalog
from crew.intent.classifier import (
    EXAMPLES_PATH,
    IntentModel,
    load_examples,
    load_or_train,
    normalise,
)
from crew.intent.entities import extract
from crew.intent.models import Classification, Entities, IntentScore, Label
from crew.intent.splitter import split
from knowledge.embeddings import embed

tracer = trace.get_tracer(__name__)

# Chosen on the held-out split (`python -m evals intent` prints accuracy above and below it):
# under 0.5 calibrated confidence the top label is wrong about as often as right, and a
# clarifying question costs less than starting the wrong workflow.
THRESHOLD = 0.5


@dataclass(frozen=True)
class _Scored:
    segment: str
    label: Label
    confidence: float


class Router:
    def __init__(self, model: IntentModel, catalog: Catalog, threshold: float = THRESHOLD):
        self.model = model
        self.catalog = catalog
        self.threshold = threshold

    @classmethod
    def load(
        cls,
        catalog: Catalog | None = None,
        *,
        examples: Path = EXAMPLES_PATH,
        cache_dir: Path | None = None,
        threshold: float = THRESHOLD,
    ) -> Router:
        """A router for `catalog`, training the model on `examples` unless cached."""
        cache_dir = cache_dir or settings.get().data_dir / "cache"
        model = load_or_train(load_examples(examples), cache_dir)
        return cls(model, catalog or Catalog.empty(), threshold)

    def entities(self, text: str) -> Entities:
        return extract(text, self.catalog)

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        """Classify several messages with one embedding batch for all their segments."""
        spans = [tracer.start_span("intent.classify") for _ in texts]
        segments = [split(text) or [text] for text in texts]
        to_embed = [
            normalise(s)
            for text, segs in zip(texts, segments, strict=True)
            for s in [*segs, *([text] if len(segs) > 1 else [])]
            if rules.reply(s) is None
        ]
        scores = iter(self.model.probabilities(embed(to_embed)) if to_embed else [])
        results = []
        for text, segs, span in zip(texts, segments, spans, strict=True):
            scored = [self._score(s, scores) for s in segs]
            whole = self._score(text, scores) if len(segs) > 1 else scored[0]
            entities = self.entities(text)
            intents = self._decide(text, scored, whole)
            results.append(Classification(text=text, intents=intents, entities=entities))
            _record(span, results[-1])
        return results

    def _score(self, segment: str, scores: Iterator[np.ndarray]) -> _Scored:
        label = rules.reply(segment)
        if label:
            return _Scored(segment, label, rules.RULE_CONFIDENCE)
        probabilities = next(scores)
        best = int(probabilities.argmax())
        return _Scored(segment, self.model.labels[best], float(probabilities[best]))

    def _decide(self, text: str, scored: list[_Scored], whole: _Scored) -> list[IntentScore]:
        # "I'm Yusuf Rossi, zip 19122" answers a question; it asks for nothing.
        asked = [s for s in scored if not rules.identification_only(s.segment)]
        confident = [s for s in asked if s.confidence >= self.threshold]
        if not confident and asked and len(scored) > 1 and whole.confidence >= self.threshold:
            confident = [_Scored(text, whole.label, whole.confidence)]
        if any(s.label != "smalltalk" for s in confident):
            # "Hi! Where is my order?" asks about the order; the greeting needs no workflow.
            confident = [s for s in confident if s.label != "smalltalk"]
        first: dict[Label, IntentScore] = {}  # one entry per label, where it was first asked
        for s in confident:
            kept = first.setdefault(s.label, _intent(s))
            kept.confidence = max(kept.confidence, _intent(s).confidence)
        return list(first.values())


def _intent(scored: _Scored) -> IntentScore:
    confidence = round(scored.confidence, 4)
    return IntentScore(label=scored.label, confidence=confidence, segment=scored.segment)


def _record(span: trace.Span, result: Classification) -> None:
    """Close the message's CHAIN span with the decision as attributes."""
    first = result.intents[0] if result.intents else None
    span.set_attributes(
        {
            SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.CHAIN.value,
            SpanAttributes.INPUT_VALUE: result.text,
            SpanAttributes.OUTPUT_VALUE: result.model_dump_json(exclude={"text"}),
            SpanAttributes.OUTPUT_MIME_TYPE: "application/json",
            "intent.label": first.label if first else "",
            "intent.confidence": first.confidence if first else 0.0,
            "intent.labels": [i.label for i in result.intents],
            "intent.entities": result.entities.model_dump_json(exclude_defaults=True),
        }
    )
    span.end()

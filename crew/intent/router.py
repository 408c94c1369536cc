"""The front door: which workflows a message asks for, in order, and the entities it gives.

A message is split into its requests (`splitter`), each request is scored by the embedding
classifier (all of a message's segments in one embedding batch) or by an exact rule, and the
confident ones are returned in the customer's order. Below `THRESHOLD` nothing is returned:
the flow then asks what the customer meant instead of guessing a business action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
        # Derived from code and shipped examples only: one cache per machine (MODEL_CACHE_DIR).
        cache_dir = cache_dir or settings.get().model_cache_dir
        model = load_or_train(load_examples(examples), cache_dir)
        return cls(model, catalog or Catalog.empty(), threshold)

    def entities(self, text: str) -> Entities:
        return extract(text, self.catalog)

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        """Classify several messages with one embedding batch for all their segments."""
        spans = [tracer.start_span("intent.classify") for _ in texts]
        segments = [split(text) for text in texts]
        readings = [_readings(segs) for segs in segments]
        scored = self._score([r for reads in readings for r in reads])
        # Where no segment is confident, the whole message gets a chance (a second, rare batch).
        asked = [
            [
                replace(scored[read], segment=s)
                for s, read in zip(segs, reads, strict=True)
                if not rules.identification_only(s)
            ]
            for segs, reads in zip(segments, readings, strict=True)
        ]
        unsure = [
            text
            for text, segs, questions in zip(texts, segments, asked, strict=True)
            if len(segs) > 1 and questions and not self._confident(questions)
        ]
        wholes = self._score(unsure)
        results = []
        for text, questions, span in zip(texts, asked, spans, strict=True):
            intents = self._decide(text, questions, wholes.get(text))
            results.append(Classification(text=text, intents=intents, entities=self.entities(text)))
            _record(span, results[-1])
        return results

    def _score(self, segments: list[str]) -> dict[str, _Scored]:
        """Each distinct segment scored by an exact rule or, in one batch, by the model."""
        by_rule = {s: rules.reply(s) for s in dict.fromkeys(segments)}
        to_embed = [s for s, label in by_rule.items() if label is None]
        probabilities = self.model.probabilities(embed([normalise(s) for s in to_embed]))
        scored = {
            s: _Scored(s, label, rules.RULE_CONFIDENCE) for s, label in by_rule.items() if label
        }
        for segment, row in zip(to_embed, probabilities, strict=True):
            scored[segment] = self._best(segment, row)
        return scored

    def _best(self, segment: str, row: np.ndarray) -> _Scored:
        """The top label; an exchange or return of an unshipped order becomes its counterpart.

        The counterpart's confidence is the two labels' probabilities together: the customer
        wants other variants (or their money back), which for this order only it can give.
        """
        labels = self.model.labels
        best = int(row.argmax())
        label, confidence = labels[best], float(row[best])
        counterpart = rules.pending_counterpart(segment, label)
        if counterpart in labels:
            confidence = min(1.0, confidence + float(row[labels.index(counterpart)]))
            label = counterpart
        return _Scored(segment, label, confidence)

    def _confident(self, scored: list[_Scored]) -> list[_Scored]:
        return [s for s in scored if s.confidence >= self.threshold]

    def _decide(self, text: str, asked: list[_Scored], whole: _Scored | None) -> list[IntentScore]:
        """`asked`: the scored segments that ask for something, in the customer's order."""
        confident = self._confident(asked)
        if not confident and whole and whole.confidence >= self.threshold:
            confident = [_Scored(text, whole.label, whole.confidence)]
        if any(s.label != "smalltalk" for s in confident):
            # "Hi! Where is my order?" asks about the order; the greeting needs no workflow.
            confident = [s for s in confident if s.label != "smalltalk"]
        first: dict[Label, IntentScore] = {}  # one entry per label, where it was first asked
        for s in confident:
            kept = first.setdefault(s.label, _intent(s))
            kept.confidence = max(kept.confidence, _intent(s).confidence)
        return list(first.values())


def _readings(segments: list[str]) -> list[str]:
    """What the model reads for each segment: its pronoun resolved from the segment before."""
    return [rules.with_referent(segments[i - 1] if i else None, s) for i, s in enumerate(segments)]


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

"""Prompt-injection detection: `scan(text) -> Verdict`, for chat messages and ingested text.

Two layers: precise rules (`injection_rules`) and an embedding classifier (`injection_model`,
MiniLM + logistic regression trained on the licensed sets in `guardrails/data/`). The verdict's
score is the higher of the two; a rule hit scores 1.0. Batch use for evaluation:

    python -m guardrails.injection --jsonl IN.jsonl
    # {"text"} lines in, {"text", "flagged", "score"} lines out (stdout)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator

from opentelemetry import trace
from pydantic import BaseModel, Field

from guardrails import injection_rules

tracer = trace.get_tracer(__name__)


class Verdict(BaseModel):
    flagged: bool
    score: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)


def _combine(text: str, model_score: float | None, threshold: float) -> Verdict:
    hits = injection_rules.matches(text)
    reasons = [f"rule:{name}" for name in hits]
    score = 1.0 if hits else 0.0
    if model_score is not None:
        if model_score >= threshold:
            reasons.append(f"classifier:{model_score:.2f}>={threshold:.2f}")
        # Scores are reported on the classifier's scale so one threshold reads both layers.
        score = max(score, model_score)
    flagged = bool(hits) or (model_score is not None and model_score >= threshold)
    return Verdict(flagged=flagged, score=round(min(max(score, 0.0), 1.0), 4), reasons=reasons)


def scan_many(texts: list[str], *, use_model: bool = True) -> list[Verdict]:
    """Verdicts for several texts at once (one embedding batch)."""
    if not texts:
        return []
    scores: list[float | None] = [None] * len(texts)
    threshold = 1.0
    if use_model:
        from guardrails import injection_model

        detector = injection_model.detector()
        threshold = detector.threshold
        scores = [float(s) for s in detector.scores(texts)]
    return [_combine(t, s, threshold) for t, s in zip(texts, scores, strict=True)]


def scan(text: str, *, use_model: bool = True) -> Verdict:
    """Is `text` trying to instruct the assistant? `use_model=False`: rules only (no MiniLM)."""
    with tracer.start_as_current_span("guardrails.injection.scan") as span:
        verdict = scan_many([text], use_model=use_model)[0]
        span.set_attribute("guardrails.injection.flagged", verdict.flagged)
        span.set_attribute("guardrails.injection.score", verdict.score)
        span.set_attribute("guardrails.injection.reasons", verdict.reasons)
        return verdict


def _read_jsonl(lines: Iterable[str]) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield str(json.loads(line)["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            message = f"line {number}: expected a JSON object with 'text' ({error})"
            raise SystemExit(message) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardrails.injection", description=__doc__)
    parser.add_argument("--jsonl", required=True, help="input file of {'text'} lines, or -")
    parser.add_argument("--rules-only", action="store_true", help="skip the classifier")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args(argv)
    source = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
    with source:
        texts = list(_read_jsonl(source))
    for start in range(0, len(texts), args.batch):
        chunk = texts[start : start + args.batch]
        verdicts = scan_many(chunk, use_model=not args.rules_only)
        for text, verdict in zip(chunk, verdicts, strict=True):
            row = {"text": text, "flagged": verdict.flagged, "score": verdict.score}
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

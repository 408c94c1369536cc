"""`python -m evals retrieval`: does the knowledge base find the document that answers a customer?

Figures, on a fresh knowledge base in a temporary directory (nothing in ./var is touched):
- ingest time of the whole shipped policy set (model already loaded; median of `--ingest-runs`);
- hit@1 / hit@3: the answering document (or a listed alternative) is the first / among the
  first three passages, ranked without the relevance threshold;
- threshold calibration: the best passage's score for every customer question and for
  off-topic questions; printed are the share of questions kept and of off-topic questions
  refused at the configured threshold and at candidate thresholds on a 0.05 grid, and the
  recommended one: the grid threshold that decides right most often, the lowest on ties. A
  decision is right when an off-topic question gets nothing, and when a customer question keeps
  its best passage if that passage comes from an answering document, or loses it if not
  (saying "I don't know" beats citing the wrong policy). `knowledge.store.RELEVANCE_THRESHOLD`
  is set to the recommendation;
- query latency of `PolicyStore.search` (embedding, version map, Chroma) after a warm-up, over
  `--repeats` passes of all questions: p50 and p95.

Ends with `retrieval: hit@1 X, hit@3 Y, p50 A ms, p95 B ms`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from pydantic import BaseModel

import settings

QUESTIONS = Path(__file__).parent / "data" / "retrieval_questions.yaml"
WARM_UP = 10


class Question(BaseModel):
    q: str
    doc: str
    also: list[str] = []

    @property
    def answers(self) -> set[str]:
        return {self.doc, *self.also}


class QuestionSet(BaseModel):
    questions: list[Question]
    off_topic: list[str]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _fresh_store(root: Path):
    """A PolicyStore with the shipped documents, in its own database and Chroma directory."""
    from knowledge.index import PolicyIndex, open_client
    from knowledge.seed import ensure_ingested
    from knowledge.store import PolicyStore
    from shop.db import make_engine

    engine = make_engine(f"sqlite:///{root / 'store.db'}")
    store = PolicyStore(engine, PolicyIndex(open_client(str(root / "chroma"))))
    return ensure_ingested(store=store)


def _ingest(runs: int, root: Path) -> tuple[float, object]:
    timings, store = [], None
    for run in range(runs):
        started = time.perf_counter()
        store = _fresh_store(root / f"run{run}")
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), store


def _calibration(raw, data: QuestionSet, configured: float) -> None:
    """Best-passage scores of customer vs off-topic questions (`raw` has no threshold)."""
    on, correct = [], []
    for question in data.questions:
        best = raw.search(question.q, k=1)[0]
        on.append(best.score)
        correct.append(best.doc_id in question.answers)
    off = [raw.search(q, k=1)[0].score for q in data.off_topic]
    print(
        f"best-passage score, customer questions: min {min(on):.3f}, "
        f"p5 {_percentile(on, 0.05):.3f}, median {statistics.median(on):.3f}"
    )
    print(
        f"best-passage score, off-topic questions: median {statistics.median(off):.3f}, "
        f"p95 {_percentile(off, 0.95):.3f}, max {max(off):.3f}"
    )

    def right(threshold: float) -> int:
        kept = sum((s >= threshold) == ok for s, ok in zip(on, correct, strict=True))
        return kept + sum(s < threshold for s in off)

    print("threshold  questions kept  off-topic refused  decided right")
    grid = [round(0.05 * i, 2) for i in range(1, 20)]
    for threshold in sorted({configured, *grid[1:9]}):
        kept = sum(s >= threshold for s in on) / len(on)
        refused = sum(s < threshold for s in off) / len(off)
        mark = "  <- configured" if threshold == configured else ""
        print(
            f"  {threshold:.2f}      {kept:6.1%}          {refused:6.1%}"
            f"            {right(threshold)}/{len(on) + len(off)}{mark}"
        )
    recommended = max(grid, key=lambda t: (right(t), -t))
    print(f"recommended threshold {recommended:.2f}; configured {configured:.2f}")


def _timed(repeats: int, data: QuestionSet, run) -> list[float]:
    latencies = []
    for _ in range(repeats):
        for question in data.questions:
            started = time.perf_counter()
            run(question.q)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals retrieval")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the questions")
    parser.add_argument("--ingest-runs", type=int, default=3)
    args = parser.parse_args(argv)
    data = QuestionSet.model_validate(yaml.safe_load(QUESTIONS.read_text(encoding="utf-8")))

    with tempfile.TemporaryDirectory(prefix="retrieval-") as tmp:
        os.environ["DATA_DIR"] = tmp  # anything reading settings stays inside the temp dir
        settings.get.cache_clear()
        from knowledge.embeddings import embed
        from knowledge.seed import POLICIES_DIR
        from knowledge.store import RELEVANCE_THRESHOLD, PolicyStore

        started = time.perf_counter()
        embed(["warm up"])
        print(f"model load {time.perf_counter() - started:.1f} s")
        ingest, store = _ingest(args.ingest_runs, Path(tmp))
        docs = len(list(POLICIES_DIR.glob("*.md")))
        passages = sum(store.index.inventory().values())
        print(
            f"ingest of {docs} documents ({passages} passages): {ingest:.2f} s "
            f"(median of {args.ingest_runs} fresh runs)"
        )

        # ranking quality is measured without the threshold, which is calibrated separately
        raw = PolicyStore(store.engine, store.index, threshold=-1.0, reconcile=False)
        hits1 = hits3 = 0
        for question in data.questions:
            ranked = [p.doc_id for p in raw.search(question.q, k=3)]
            hits1 += ranked[0] in question.answers
            hits3 += bool(question.answers & set(ranked))
            if not question.answers & set(ranked):
                print(f"  miss: {question.q!r} -> wanted {question.doc}, got {ranked}")
        total = len(data.questions)
        print(
            f"{total} questions over {len({q.doc for q in data.questions})} documents, "
            f"{len(data.off_topic)} off-topic"
        )
        _calibration(raw, data, RELEVANCE_THRESHOLD)

        for question in data.questions[:WARM_UP]:
            store.search(question.q)
        latencies = _timed(args.repeats, data, lambda q: store.search(q, k=3))
        p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
        print(
            f"search latency over {len(latencies)} queries: p50 {p50:.1f} ms, "
            f"p95 {p95:.1f} ms, max {max(latencies):.1f} ms"
        )
        # where the time goes: the query embedding alone, on the same questions
        embedding = _timed(args.repeats, data, lambda q: embed([q]))
        print(
            f"  of which query embedding: p50 {_percentile(embedding, 0.5):.1f} ms, "
            f"p95 {_percentile(embedding, 0.95):.1f} ms"
        )
        texts = [q.q for q in data.questions]
        vectors = dict(zip(texts, embed(texts), strict=True))

        def index_path(question: str) -> None:  # what search does after embedding
            served = sorted(store.served())
            store.index.query(vectors[question], served, 3)
            store.served()

        rest = _timed(args.repeats, data, index_path)
        print(
            f"  and version map + Chroma: p50 {_percentile(rest, 0.5):.1f} ms, "
            f"p95 {_percentile(rest, 0.95):.1f} ms"
        )
    settings.get.cache_clear()
    print(
        f"retrieval: hit@1 {hits1 / total:.3f}, hit@3 {hits3 / total:.3f}, "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    return 0

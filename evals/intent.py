"""`python -m evals intent`: the intent router on unseen messages, its calibration and latency.

Two sets, neither ever trained on by the model that scores it:
- held-out: a stratified 20 % of `crew/config/intents.yaml`; a model is trained on the other
  80 % for this (the product's model trains on all of it);
- test: `evals/data/intent_test.yaml`, written separately, scored by the product's model. Its
  `fresh` part was written after the first run and is reported on its own as well.

A message counts as right when the router's first intent is its label; no intent (below the
threshold) is wrong, except that out-of-scope recall also reports "not forced into a business
label" (out_of_scope or no intent). Latency: one `classify` per message, and `classify_many`
per batch, medians over repeated runs after a warm-up; p50/p95 across messages.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from pathlib import Path

import numpy as np
import yaml

import settings
from crew.intent import Catalog, Router
from crew.intent.classifier import load_examples, load_or_train, normalise
from crew.intent.models import LABELS
from crew.intent.splitter import split
from knowledge.embeddings import embed

HERE = Path(__file__).parent
TEST_SET = HERE / "data" / "intent_test.yaml"
REPORTS = HERE / "reports"
DB_JSON = Path(settings.ROOT) / "shop" / "data" / "db.json"
HELD_OUT_SHARE = 0.2
NONE = "(none)"


def held_out_split(examples, share=HELD_OUT_SHARE, seed=0):
    """Stratified: the same share of every label, chosen by a fixed seed."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in LABELS:
        rows = [e for e in examples if e[1] == label]
        order = rng.permutation(len(rows))
        cut = max(1, round(len(rows) * share))
        held += [rows[i] for i in order[:cut]]
        train += [rows[i] for i in order[cut:]]
    return train, held


def load_test_set(path: Path = TEST_SET, fresh: bool | None = None):
    """(single, multi) rows; `fresh`: only the untouched part (True), only the rest (False)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    parts = {False: ("single", "multi"), True: ("fresh", "fresh_multi")}
    chosen = [parts[fresh]] if fresh is not None else list(parts.values())
    single = [
        (text, label) for s, _ in chosen for label, texts in data[s].items() for text in texts
    ]
    multi = [(row["text"], list(row["intents"])) for _, m in chosen for row in data[m]]
    assert all(isinstance(t, str) and lab in LABELS for t, lab in single), "bad test row"
    return single, multi


def first_labels(router: Router, texts: list[str]) -> list[str]:
    return [c.intent or NONE for c in router.classify_many(texts)]


def scores(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    accuracy = accuracy_score(truth, predicted)
    return f1_score(truth, predicted, labels=list(LABELS), average="macro"), accuracy


def report_errors(texts, truth, predicted, limit=25) -> None:
    wrong = [(t, y, p) for t, y, p in zip(texts, truth, predicted, strict=True) if y != p]
    for text, y, p in wrong[:limit]:
        print(f"    {y:15s} -> {p:15s} {text!r}")
    if len(wrong) > limit:
        print(f"    ... and {len(wrong) - limit} more")


def oos_recall(truth, predicted) -> tuple[float, float]:
    oos = [p for y, p in zip(truth, predicted, strict=True) if y == "out_of_scope"]
    strict = sum(p == "out_of_scope" for p in oos) / len(oos)
    not_forced = sum(p in {"out_of_scope", NONE} for p in oos) / len(oos)
    return strict, not_forced


def calibration(router: Router, held) -> tuple[float, list[tuple[float, float, int]]]:
    """Expected calibration error of the model's top probability, and its reliability bins."""
    probabilities = router.model.probabilities(embed([normalise(t) for t, _ in held]))
    confidence = probabilities.max(axis=1)
    right = np.array(
        [
            router.model.labels[i] == y
            for i, (_, y) in zip(probabilities.argmax(axis=1), held, strict=True)
        ]
    )
    bins, ece = [], 0.0
    edges = np.linspace(0, 1, 11)
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            gap = abs(confidence[inside].mean() - right[inside].mean())
            ece += gap * inside.mean()
            bins.append(
                (float(confidence[inside].mean()), float(right[inside].mean()), int(inside.sum()))
            )
    return ece, bins


def threshold_sweep(router: Router, held) -> None:
    texts, truth = [t for t, _ in held], [y for _, y in held]
    original = router.threshold
    print("  threshold  answered  accuracy-of-answered")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        router.threshold = threshold
        predicted = first_labels(router, texts)
        answered = [(y, p) for y, p in zip(truth, predicted, strict=True) if p != NONE]
        accuracy = sum(y == p for y, p in answered) / max(1, len(answered))
        print(f"  {threshold:9.2f}  {len(answered) / len(texts):8.3f}  {accuracy:.3f}")
    router.threshold = original


def save_confusion(truth, predicted, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    columns = [*LABELS, NONE]
    matrix = confusion_matrix(truth, predicted, labels=columns)[: len(LABELS)]
    figure, axes = plt.subplots(figsize=(11, 9))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_xlabel("predicted (first intent)")
    axes.set_ylabel("true label")
    axes.set_title(title)
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > matrix.max() / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def save_reliability(bins, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    axes.plot([b[0] for b in bins], [b[1] for b in bins], "o-", label="held-out")
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.set_title("Intent model calibration (held-out)")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def per_message(call, texts: list[str], runs: int) -> list[float]:
    """Milliseconds of `call(text)` for each text: the median of `runs` timed calls."""
    return [statistics.median(_timed(lambda t=t: call(t)) for _ in range(runs)) for t in texts]


def latency(router: Router, texts: list[str], runs: int, batch: int) -> tuple[list, list]:
    for text in texts[:20]:  # warm-up
        router.classify(text)
    single = per_message(router.classify, texts, runs)
    batched = []
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        milliseconds = statistics.median(
            _timed(lambda c=chunk: router.classify_many(c)) for _ in range(runs)
        )
        batched += [milliseconds / len(chunk)] * len(chunk)
    return single, batched


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def print_scores(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    f1, accuracy = scores(truth, predicted)
    strict, not_forced = oos_recall(truth, predicted)
    print(f"  macro-F1 {f1:.3f}, accuracy {accuracy:.3f}, abstained {predicted.count(NONE)}")
    print(
        f"  out-of-scope recall {strict:.3f} (answered out_of_scope), "
        f"{not_forced:.3f} (out_of_scope or no intent: not forced into a business label)"
    )
    return f1, accuracy


def evaluate_held_out(catalog: Catalog, cache: Path, reports: Path) -> None:
    examples = load_examples()
    train, held = held_out_split(examples)
    router = Router(load_or_train(train, cache), catalog)
    share = len(held) / len(examples)
    print(f"held-out: {len(held)} of {len(examples)} examples ({share:.0%}), trained on the rest")
    texts, truth = [t for t, _ in held], [y for _, y in held]
    predicted = first_labels(router, texts)
    print_scores(truth, predicted)
    ece, bins = calibration(router, held)
    temperature = router.model.temperature
    print(
        f"  calibration: ECE {ece:.3f} (temperature {temperature:.2f}); (confidence, accuracy, n):"
    )
    print("   ", ", ".join(f"({c:.2f}, {a:.2f}, {n})" for c, a, n in bins))
    threshold_sweep(router, held)
    report_errors(texts, truth, predicted)
    save_reliability(bins, reports / "intent_reliability.png")
    save_confusion(
        truth, predicted, reports / "intent_confusion_heldout.png", "Intent router, held-out split"
    )


def evaluate_test_set(
    router: Router, reports: Path, fresh: bool | None = None
) -> tuple[float, float, list[str]]:
    single, multi = load_test_set(fresh=fresh)
    texts, truth = [t for t, _ in single], [y for _, y in single]
    predicted = first_labels(router, texts)
    name = "test set, untouched part" if fresh else "test set"
    print(f"{name}: {len(single)} single-request messages, {len(multi)} multi-request")
    f1, accuracy = print_scores(truth, predicted)
    report_errors(texts, truth, predicted)
    if fresh is None:
        confusion_path = reports / "intent_confusion.png"
        save_confusion(truth, predicted, confusion_path, "Intent router, test set (first intent)")
        print(f"  confusion matrix: {confusion_path}")
    sequences = [[i.label for i in c.intents] for c in router.classify_many([t for t, _ in multi])]
    exact = [s == want for s, (_, want) in zip(sequences, multi, strict=True)]
    print(f"  multi-request messages, intents in the right order: {sum(exact)}/{len(multi)}")
    for ok, got, (text, want) in zip(exact, sequences, multi, strict=True):
        if not ok:
            print(f"    want {want} got {got}: {text!r}")
    return f1, accuracy, texts + [t for t, _ in multi]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals intent")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per message")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reports", type=Path, default=REPORTS)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)

    catalog = Catalog.from_db_json(DB_JSON)
    cache = settings.get().data_dir / "cache"
    evaluate_held_out(catalog, cache, args.reports)
    router = Router.load(catalog, cache_dir=cache)
    evaluate_test_set(router, args.reports, fresh=True)
    f1, accuracy, texts = evaluate_test_set(router, args.reports)
    if args.skip_latency:
        print(f"intent: macro-F1 {f1:.3f}, accuracy {accuracy:.3f} (latency skipped)")
        return 0
    single_ms, batch_ms = latency(router, texts, args.runs, args.batch)
    p50, p95 = np.percentile(single_ms, [50, 95])
    b50, b95 = np.percentile(batch_ms, [50, 95])
    # The same machine's MiniLM speed in the same minute: the floor under any figure above.
    floor = per_message(lambda t: embed([t]), texts, args.runs)
    rest = per_message(lambda t: (split(t), router.entities(t)), texts, args.runs)
    print(f"latency per message over {len(texts)} messages, median of {args.runs} runs each:")
    print(f"  single: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"  batches of {args.batch}: p50 {b50:.1f} ms, p95 {b95:.1f} ms per message")
    f50, f95 = np.percentile(floor, [50, 95])
    r50, r95 = np.percentile(rest, [50, 95])
    print(f"  of which: one MiniLM call p50 {f50:.1f} ms, p95 {f95:.1f} ms (the model alone);")
    print(f"  splitting and entity rules p50 {r50:.2f} ms, p95 {r95:.2f} ms")
    print(f"  machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"intent: macro-F1 {f1:.3f}, accuracy {accuracy:.3f}, p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    return 0

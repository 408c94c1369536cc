"""`python -m evals detector`: the injection detector on its held-out split, and its latency.

Recall and false-positive rate are for the whole `scan` (rules + classifier) on the 20 % of the
labelled examples it never trained or calibrated on. The false-positive rate is also broken down
by source, the figure that matters being benign customer messages (budget 2 %). Latency is one
`scan` call per message (as in chat), medians over repeated runs after a warm-up.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from guardrails import injection, injection_data, injection_model


def _rate(hits: list[bool]) -> float:
    return sum(hits) / len(hits) if hits else float("nan")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals detector")
    parser.add_argument("--latency-runs", type=int, default=200)
    args = parser.parse_args(argv)

    detector = injection_model.detector()
    _, held_out = injection_data.split(injection_data.load())
    verdicts = injection.scan_many([e.text for e in held_out])
    flagged = [v.flagged for v in verdicts]
    attacks = [f for f, e in zip(flagged, held_out, strict=True) if e.label == 1]
    benign = [f for f, e in zip(flagged, held_out, strict=True) if e.label == 0]
    customer = [f for f, e in zip(flagged, held_out, strict=True) if e.label == 0 and e.customer]
    recall, fpr, customer_fpr = _rate(attacks), _rate(benign), _rate(customer)
    print(f"held-out: {len(held_out)} examples, {len(attacks)} injections, {len(benign)} benign")
    target = injection_model.FPR_TARGET
    print(f"threshold {detector.threshold:.3f} (calibrated for customer FPR <= {target})")
    for source in ("deepset", "notinject", "retail", "intents"):
        rows = [(f, e) for f, e in zip(flagged, held_out, strict=True) if e.source == source]
        if rows:
            caught = _rate([f for f, e in rows if e.label == 1])
            false = _rate([f for f, e in rows if e.label == 0])
            print(f"  {source:9s} n={len(rows):4d}  recall {caught:.3f}  FPR {false:.3f}")
    print(f"benign customer messages: FPR {customer_fpr:.3f} (n={len(customer)})")

    texts = [e.text for e in held_out]
    for text in texts[:10]:  # warm-up: model load, first-call allocations
        injection.scan(text)
    timings = []
    for run in range(args.latency_runs):
        text = texts[run % len(texts)]
        start = time.perf_counter()
        injection.scan(text)
        timings.append((time.perf_counter() - start) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    print(f"latency over {len(timings)} single-message scans")
    print(f"detector: recall {recall:.3f}, FPR {fpr:.3f}, p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    return 0

"""`python -m evals latency`: per-turn latency offline, p50/p95 after warm-up, split by layer.

Replays every golden conversation's turns (fresh store copy each) with timers around each layer:
guardrails (input and output checks), routing (the intent router), retrieval (policy search),
tools (store reads and writes through the gateway); the rest is the flow and the agents
(CrewAI kickoffs and the offline planner).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import settings
from evals.converse import Harness, load

LAYERS = ("guardrails", "routing", "retrieval", "tools")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Timers:
    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, layer: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[layer] += time.perf_counter() - started

        return timed


def instrument(harness: Harness, timers: Timers) -> None:
    from guardrails import grounding
    from guardrails import input as input_checks
    from shop import gateway

    input_checks.check_message = timers.wrap("guardrails", input_checks.check_message)
    grounding.check_reply = timers.wrap("guardrails", grounding.check_reply)
    harness.router.classify = timers.wrap("routing", harness.router.classify)
    harness.policies.search = timers.wrap("retrieval", harness.policies.search)
    gateway.read = timers.wrap("tools", gateway.read)
    gateway.execute = timers.wrap("tools", gateway.execute)


def main(argv: list[str]) -> int:
    conversations = load([Path(a) for a in argv] or None)
    with tempfile.TemporaryDirectory() as workdir:
        os.environ.setdefault("DATA_DIR", workdir)
        settings.get.cache_clear()
        harness = Harness(Path(workdir), settings.get().data_dir / "cache" / "converse")
        warm = harness.assistant()
        warm.warm_up()
        timers = Timers()
        instrument(harness, timers)
        totals: list[float] = []
        split: dict[str, list[float]] = defaultdict(list)
        for conversation in conversations:
            assistant = harness.assistant()
            conversation_id = assistant.start(customer_id=conversation.sign_in)
            for turn in conversation.turns:
                if not turn.user:
                    continue
                timers.spent.clear()
                started = time.perf_counter()
                assistant.turn(conversation_id, turn.user, client_id=conversation.id)
                total = time.perf_counter() - started
                totals.append(total)
                for layer in LAYERS:
                    split[layer].append(timers.spent[layer])
                split["flow+agents"].append(total - sum(timers.spent[x] for x in LAYERS))
            assistant.services.engine.dispose()
    ms = 1000
    print(f"{len(totals)} turns over {len(conversations)} conversations (offline backend)")
    for layer in (*LAYERS, "flow+agents"):
        values = split[layer]
        print(
            f"  {layer:12s} p50 {statistics.median(values) * ms:7.1f} ms  "
            f"p95 {_percentile(values, 0.95) * ms:7.1f} ms  "
            f"share {sum(values) / sum(totals):5.1%}"
        )
    p50, p95 = statistics.median(totals) * ms, _percentile(totals, 0.95) * ms
    print(f"latency: p50 {p50:.0f} ms, p95 {p95:.0f} ms per turn over {len(totals)} turns")
    return 0

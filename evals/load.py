"""`python -m evals load`: many customers at once through the Gradio API of the real app
(offline backend): per-turn latency p50/p95, throughput, errors (must be 0) and the app's
memory, at 20 and then 50 concurrent sessions.

Each session is one `gradio_client.Client` (its own browser session): it signs in as a
different demo customer, asks for one of their orders, a policy question and a product
question. Ends with `load: 20 sessions p50 … ms p95 … ms … turns/s … errors; 50 sessions …;
peak RSS … MB`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from evals._app import AppProcess
from shop.seed import DEFAULT_PATH
from ui.chat import SORRY

CONNECT_TIMEOUT_S = 120  # a browser waits for the page; gradio_client gives up after 20 s
QUESTIONS = ("What is your return policy?", "Do you sell water bottles?")


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency_ms: float, error: str | None) -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            if error:
                self.errors.append(error)


def customers(count: int) -> list[tuple[str, str]]:
    """(email, an order id) of `count` demo customers who have orders."""
    users = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))["users"]
    picked = [(u["email"], u["orders"][0]) for u in users.values() if u.get("orders")]
    return picked[:count]


def _reply(history: list[dict]) -> str:
    content = history[-1]["content"] if history else ""
    return content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)


def session(url: str, number: int, email: str, order_id: str, tally: Tally) -> None:
    from gradio_client import Client

    # Each customer comes from their own address, as through a proxy on 127.0.0.1 (uvicorn
    # trusts its X-Forwarded-For): one machine opening 50 sessions is what the per-client rate
    # limit exists to stop, and is not what this benchmark measures.
    address = f"10.0.{number // 250}.{number % 250 + 1}"
    started = time.perf_counter()
    try:
        client = Client(
            url,
            verbose=False,
            headers={"X-Forwarded-For": address},
            httpx_kwargs={"timeout": CONNECT_TIMEOUT_S},
        )
    except Exception as exc:  # could not even open the page: every turn of it fails
        tally.add((time.perf_counter() - started) * 1000, f"connect: {exc}"[:200])
        return
    calls = [
        ((([], False, email), "/sign_in_email")),
        (((f"Where is my order {order_id}?", [], False), "/send")),
        *(((question, [], False), "/send") for question in QUESTIONS),
    ]
    for arguments, endpoint in calls:
        started = time.perf_counter()
        error = None
        try:
            history = client.predict(*arguments, api_name=endpoint)[0]
            if SORRY in _reply(history) or not _reply(history):
                error = f"{endpoint}: {_reply(history)[:80] or 'empty reply'}"
        except Exception as exc:  # a refused or dropped request is an error to count
            error = f"{endpoint}: {type(exc).__name__}: {exc}"[:200]
        tally.add((time.perf_counter() - started) * 1000, error)


def run(app: AppProcess, sessions: int, peak: list[float], offset: int = 0) -> dict[str, float]:
    tally = Tally()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], app.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    picked = customers(sessions)
    assert len(picked) == sessions, f"only {len(picked)} demo customers have orders"
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        futures = [
            pool.submit(session, f"{app.url}/", offset + number, email, order, tally)
            for number, (email, order) in enumerate(picked)
        ]
    for future in futures:
        if future.exception() is not None:
            tally.add(0.0, f"session crashed: {future.exception()!r}"[:200])
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    quantiles = statistics.quantiles(tally.latencies_ms, n=20)
    for error in tally.errors[:5]:
        print(f"  error: {error}")
    return {
        "turns": len(tally.latencies_ms),
        "p50": statistics.median(tally.latencies_ms),
        "p95": quantiles[18],
        "throughput": len(tally.latencies_ms) / wall,
        "errors": len(tally.errors),
        "wall": wall,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals load", description=__doc__)
    parser.add_argument("--sessions", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--data-dir", type=Path, help="reuse a data dir (skips first-run setup)")
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory(prefix="load-") as tmp,
        AppProcess(args.data_dir or Path(tmp)) as app,
    ):
        print(f"app ready in {app.ready_s:.1f} s, RSS {app.rss_mb():.0f} MB")
        peak = [app.rss_mb()]
        run(app, 4, peak)  # warm-up: first Gradio sessions, first turns of each kind
        parts = []
        for count in args.sessions:
            figures = run(app, count, peak, offset=1000 * len(parts) + 100)
            print(
                f"{count} sessions: {figures['turns']} turns in {figures['wall']:.1f} s; "
                f"p50 {figures['p50']:.0f} ms, p95 {figures['p95']:.0f} ms; "
                f"{figures['throughput']:.1f} turns/s; {figures['errors']} errors"
            )
            parts.append(
                f"{count} sessions p50 {figures['p50']:.0f} ms p95 {figures['p95']:.0f} ms "
                f"{figures['throughput']:.1f} turns/s {figures['errors']} errors"
            )
    print(f"load: {'; '.join(parts)}; peak RSS {peak[0]:.0f} MB")
    return 0

"""`python -m evals startup`: launch -> ready (the web server answers, after seeding, ingesting
and warming up) and the resident memory then, for three cases:

- first run on a new machine: empty data dir and empty MODEL_CACHE_DIR (export MiniLM to ONNX,
  train the intent router and the injection detector, seed, ingest);
- first run of a new store: empty data dir, the machine's model cache (seed, ingest);
- restarts over existing data (the everyday start).

Targets: ready <= 25 s and <= 1.5 GB without Phoenix. Ends with
`startup: new machine W s; first run X s; restart p50 Y s; RSS Z MB (targets 25 s, 1536 MB)`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from evals._app import AppProcess

TARGET_READY_S = 25.0
TARGET_RSS_MB = 1536.0


def measure(data_dir: Path, phoenix: bool, model_cache: Path | None = None) -> tuple[float, float]:
    with AppProcess(data_dir, phoenix=phoenix, model_cache=model_cache) as app:
        return app.ready_s, app.rss_mb(children=phoenix)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals startup", description=__doc__)
    parser.add_argument("--restarts", type=int, default=3, help="restarts over existing data")
    parser.add_argument("--phoenix", action="store_true", help="also start Phoenix (child)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        new_s, new_mb = measure(Path(tmp) / "new-machine", args.phoenix, Path(tmp) / "models")
        print(f"new machine (export, train, seed, ingest): ready in {new_s:.1f} s, {new_mb:.0f} MB")
        data = Path(tmp) / "store"
        first_s, first_mb = measure(data, args.phoenix)
        print(f"first run (seed, ingest, warm-up): ready in {first_s:.1f} s, RSS {first_mb:.0f} MB")
        restarts = []
        for number in range(1, args.restarts + 1):
            ready_s, rss_mb = measure(data, args.phoenix)
            restarts.append((ready_s, rss_mb))
            print(f"restart {number}: ready in {ready_s:.1f} s, RSS {rss_mb:.0f} MB")
    ready = statistics.median(r for r, _ in restarts) if restarts else first_s
    rss = max([new_mb, first_mb, *(m for _, m in restarts)])
    where = "with Phoenix" if args.phoenix else "without Phoenix"
    verdict = "meets" if ready <= TARGET_READY_S and rss <= TARGET_RSS_MB else "MISSES"
    print(f"{verdict} the targets ({where})")
    print(
        f"startup: new machine {new_s:.1f} s; first run {first_s:.1f} s; "
        f"restart p50 {ready:.1f} s; RSS {rss:.0f} MB "
        f"(targets {TARGET_READY_S:.0f} s, {TARGET_RSS_MB:.0f} MB, {where})"
    )
    return 0

"""`python -m shop seed [--reset] [--from FILE]` and `python -m shop export [--out FILE]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import settings
from shop import export, seed
from shop.db import create_schema, default_engine, transaction


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="load the demo store into DATABASE_URL")
    seeding.add_argument("--reset", action="store_true", help="replace a non-empty store")
    seeding.add_argument("--from", dest="source", type=Path, help="a db.json-shaped file")
    exporting = commands.add_parser("export", help="write the store in db.json shape")
    exporting.add_argument("--out", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)

    url = settings.get().database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = default_engine()
    if args.command == "seed":
        started = time.perf_counter()
        try:
            (seed.reset if args.reset else seed.seed)(engine, args.source)
        except seed.StoreNotEmpty as error:
            print(f"shop seed: {error}", file=sys.stderr)
            return 1
        print(f"shop seed: loaded into {engine.url!r} in {time.perf_counter() - started:.2f} s")
        return 0
    create_schema(engine)
    with transaction(engine) as session:
        if args.out:
            export.write(session, args.out)
        else:
            sys.stdout.write(export.dumps(session))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

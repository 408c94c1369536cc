"""`python -m evals NAME [ARGS]`: run one benchmark (or `all`); each ends with `NAME: ...`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import settings  # noqa: F401  (offline environment before any library loads)

HERE = Path(__file__).parent
NOT_BENCHMARKS = {"__main__", "common", "report", "_app"}


def available() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(HERE)])
        if info.name not in NOT_BENCHMARKS and not info.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m evals NAME [ARGS]\nbenchmarks: " + ", ".join(names))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in names:
        print(f"unknown benchmark {name!r}; choose one of: {', '.join(names)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"evals.{name}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

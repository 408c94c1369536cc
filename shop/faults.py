"""Named checkpoints inside every write, where fault tests inject failures.

Production code calls `checkpoint("cancel.refund")` between the steps of a write. It does
nothing unless a test or `python -m evals faults` installed an injector with `inject`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Injector = Callable[[str], None]

_injector: Injector | None = None


def checkpoint(name: str) -> None:
    """Give an installed injector the chance to raise (or kill the process) at step `name`."""
    if _injector is not None:
        _injector(name)


@contextmanager
def inject(injector: Injector) -> Iterator[None]:
    """Install `injector` for the duration of the block (one at a time, process-wide)."""
    global _injector
    previous, _injector = _injector, injector
    try:
        yield
    finally:
        _injector = previous

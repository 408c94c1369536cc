"""The model-provider circuit breaker: stop calling a provider that keeps failing.

Closed: calls go through. After `threshold` consecutive failures it opens: `allow()` is False for
`cooldown` seconds and callers use the offline backend instead. Then half-open: exactly one
trial call is allowed; its success closes the breaker, its failure opens it for another
cool-down. Matches the `Breaker` protocol of `crew.backends.openai_compat`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from opentelemetry import trace

State = Literal["closed", "open", "half_open"]

FAILURE_THRESHOLD = 3  # one failure is noise; three in a row is an outage
COOLDOWN_SECONDS = 30.0  # long enough for a provider to recover, short enough to notice


class CircuitBreaker:
    def __init__(
        self,
        threshold: int = FAILURE_THRESHOLD,
        cooldown: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown < 0:
            raise ValueError("threshold must be >= 1 and cooldown >= 0")
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self.failures = 0
        self.opened_at: float | None = None
        # When the half-open trial call started; a trial that never reports back (its caller
        # crashed) expires after a cool-down instead of keeping the breaker open for ever.
        self._trial_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self.opened_at is None:
            return "closed"
        return "open" if self.clock() - self.opened_at < self.cooldown else "half_open"

    def allow(self) -> bool:
        """May a call be made now? In half-open, only the first caller gets to try."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            now = self.clock()
            if state == "half_open" and (
                self._trial_at is None or now - self._trial_at >= self.cooldown
            ):
                self._trial_at = now
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self._trial_at = 0, None, None

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            trial_failed = self._trial_at is not None
            if trial_failed or self.failures >= self.threshold:
                trace.get_current_span().add_event(
                    "guardrails.breaker.opened", {"failures": self.failures}
                )
                self.opened_at = self.clock()
                self._trial_at = None


_shared: CircuitBreaker | None = None
_shared_lock = threading.Lock()


def provider_breaker() -> CircuitBreaker:
    """The process-wide breaker of the model provider (every layer talks to the same one)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CircuitBreaker()
        return _shared

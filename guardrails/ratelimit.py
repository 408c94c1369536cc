"""Token-bucket rate limits per chat session and per client (an IP address, an API key).

One bucket per key: it holds up to `capacity` tokens and refills at `rate` tokens per second;
each message spends one. A burst of `capacity` messages passes, then one per 1/`rate` seconds.
Buckets live in this process: with several app replicas each enforces its own share (the load
balancer's sticky sessions or a shared store would make it global; not needed at this scale).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

Clock = Callable[[], float]

# A person types a message every few seconds at most; a script does not.
SESSION_CAPACITY, SESSION_RATE = 8, 1 / 3  # burst of 8, then 20 a minute
# One client (an office behind one address) may run several sessions at once.
CLIENT_CAPACITY, CLIENT_RATE = 30, 1.0
MAX_IDLE_BUCKETS = 10_000  # beyond this, full (idle) buckets are forgotten


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Decision(BaseModel):
    allowed: bool
    scope: str = ""  # "session" or "client" when refused
    retry_after: float = 0.0  # seconds until a message would pass


class TokenBucket:
    """Many buckets of one shape, keyed by name; thread-safe."""

    def __init__(self, capacity: float, rate: float, clock: Clock = time.monotonic) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive refill rate")
        self.capacity, self.rate, self.clock = float(capacity), float(rate), clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_IDLE_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        elapsed = max(0.0, now - bucket.updated)  # a clock that steps back refills nothing
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.capacity:
                del self._buckets[key]

    def wait(self, key: str) -> float:
        """Seconds until `key` may spend a token (0 when it may now); spends nothing."""
        with self._lock:
            bucket = self._refilled(key, self.clock())
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def spend(self, key: str) -> None:
        with self._lock:
            bucket = self._refilled(key, self.clock())
            bucket.tokens -= 1


class RateLimiter:
    """A message passes only if both its session's and its client's bucket have a token.

    Nothing is spent when either refuses, so a client at its limit does not also drain the
    session's allowance (and vice versa).
    """

    def __init__(
        self,
        clock: Clock = time.monotonic,
        session: tuple[float, float] = (SESSION_CAPACITY, SESSION_RATE),
        client: tuple[float, float] = (CLIENT_CAPACITY, CLIENT_RATE),
    ) -> None:
        self.sessions = TokenBucket(*session, clock=clock)
        self.clients = TokenBucket(*client, clock=clock)
        self._lock = threading.Lock()

    def check(self, session_id: str, client_id: str) -> Decision:
        with self._lock:  # check-then-spend across two buckets must be one step
            waits = {
                "session": self.sessions.wait(session_id),
                "client": self.clients.wait(client_id),
            }
            scope, retry_after = max(waits.items(), key=lambda item: item[1])
            if retry_after > 0:
                return Decision(allowed=False, scope=scope, retry_after=round(retry_after, 2))
            self.sessions.spend(session_id)
            self.clients.spend(client_id)
            return Decision(allowed=True)


_shared: RateLimiter | None = None
_shared_lock = threading.Lock()


def limiter() -> RateLimiter:
    """The process-wide limiter that `guardrails.input.check_message` uses by default."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RateLimiter()
        return _shared

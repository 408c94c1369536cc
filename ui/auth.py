"""The staff console's door: one password, a delay on every wrong guess, lockout after a run.

Gradio's built-in login (`auth=`) calls our checker with the submitted name and password; it has
no brute-force protection of its own (PITFALLS.md), so the checker supplies it. The checker is
async: Gradio awaits it inside its event loop, and a blocking sleep there would stall every
customer's chat.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass

import gradio as gr

import settings

log = logging.getLogger(__name__)

STAFF_USER = "staff"
SECRET_NAME = "staff-password"
FAILURE_DELAY_S = 1.0  # every wrong guess costs the guesser a second
MAX_FAILURES = 5  # consecutive failures before the door locks...
LOCKOUT_S = 300.0  # ...for five minutes (also for the right password: the guesser can't tell)


def staff_name(request: gr.Request | None) -> str:
    """Who is signed in to the console (for the audit log), as Gradio's login recorded it."""
    return (request.username if request is not None and request.username else STAFF_USER)[:100]


@dataclass(frozen=True)
class StaffPassword:
    value: str
    generated: bool  # True when this run created it (print it once)


def staff_password() -> StaffPassword:
    """`STAFF_PASSWORD`, else the generated one kept in the data dir (created on first run)."""
    configured = settings.get().staff_password
    if configured:
        return StaffPassword(configured, generated=False)
    existed = (settings.get().data_dir / "secrets" / SECRET_NAME).is_file()
    return StaffPassword(settings.local_secret(SECRET_NAME), generated=not existed)


class StaffGate:
    """Checks staff logins; locks after `max_failures` consecutive wrong passwords."""

    def __init__(
        self,
        password: str,
        *,
        failure_delay_s: float = FAILURE_DELAY_S,
        max_failures: int = MAX_FAILURES,
        lockout_s: float = LOCKOUT_S,
    ) -> None:
        if not password:
            raise ValueError("the staff password must not be empty")
        self._password = password.encode()
        self._failure_delay_s = failure_delay_s
        self._max_failures = max_failures
        self._lockout_s = lockout_s
        self._failures = 0
        self._locked_until = 0.0
        self._lock = asyncio.Lock()

    def locked(self) -> bool:
        return time.monotonic() < self._locked_until

    # A plain `async def` method, not `__call__`: Gradio tests `inspect.iscoroutinefunction`
    # on what it is given, and treats an object with an async `__call__` as synchronous, taking
    # the un-awaited coroutine for True: everyone would get in.
    async def check(self, username: str, password: str) -> bool:
        # One attempt at a time: parallel guesses cannot multiply the guessing rate.
        async with self._lock:
            if self.locked():
                await asyncio.sleep(self._failure_delay_s)
                log.warning("staff login refused: locked out")
                return False
            good = username.strip() == STAFF_USER and hmac.compare_digest(
                password.encode(), self._password
            )
            if good:
                self._failures = 0
                return True
            self._failures += 1
            if self._failures >= self._max_failures:
                self._failures = 0
                self._locked_until = time.monotonic() + self._lockout_s
                log.warning(
                    "staff login locked for %.0f s after repeated failures", self._lockout_s
                )
            await asyncio.sleep(self._failure_delay_s)
            return False

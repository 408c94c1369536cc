"""What reaches an open chat between the customer's turns: a staff decision on a large refund.

The page polls (`ChatPage.poll`, on a `gr.Timer` that runs only while the conversation waits
for a decision); the assistant writes the outcome into the saved conversation once. Two things
can go wrong in one process, and this module keeps both from happening:

- A poll saving between a turn's load and save would make that turn's save fail (the state's
  version check), and the customer would get an error. Turns of a conversation hold its lock;
  a poll only tries the lock and, if a turn holds it, waits for the next tick (the turn itself
  reports the decision).
- A turn sent while a poll's answer was on its way started from a chat without the outcome,
  and its reply would draw over it. The poll remembers what it delivered; the turn puts back
  what its own copy of the chat lacks.

A chat comes back from the browser in Gradio's shape (`content` a list of text parts), so
messages are compared by their text (`message_text`), never by their raw content.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakValueDictionary

REMEMBERED = 1024  # deliveries kept for turns in flight; older ones were long since shown


def message_text(message: dict[str, Any]) -> str:
    """A chat message's text: its content as the page sent it (a string) or as the browser
    returns it (`Chatbot.preprocess`: a list of parts, the text ones as {"text": ...})."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return "".join(
            part.get("text") or "" if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def said(messages: list[dict[str, Any]]) -> int:
    """How many replies of the assistant `messages` hold (not its collapsed steps): a chat
    that shows fewer than the saved conversation lags behind another tab of it. Replies only,
    since a sign-in saves a customer message ("My email is ...") the page never shows."""
    return sum(
        m.get("role") == "assistant" and not m.get("metadata") and bool(message_text(m))
        for m in messages
    )


class ConversationGate:
    def __init__(self) -> None:
        # A lock lives while someone holds it or waits for it: no growth with conversations.
        self._locks: WeakValueDictionary[str, threading.Lock] = WeakValueDictionary()
        self._guard = threading.Lock()
        self._delivered: OrderedDict[str, str] = OrderedDict()

    def _lock(self, conversation_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(conversation_id, threading.Lock())

    @contextmanager
    def turn(self, conversation_id: str | None) -> Iterator[None]:
        """Hold the conversation for a turn (a new conversation has nothing to race)."""
        if conversation_id is None:
            yield
            return
        with self._lock(conversation_id):
            yield

    @contextmanager
    def poll(self, conversation_id: str) -> Iterator[bool]:
        """True if the poll may run now; False while a turn holds the conversation."""
        lock = self._lock(conversation_id)
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def delivered(self, conversation_id: str, message: str) -> None:
        with self._guard:
            self._delivered[conversation_id] = message
            self._delivered.move_to_end(conversation_id)
            while len(self._delivered) > REMEMBERED:
                self._delivered.popitem(last=False)

    def missed(self, conversation_id: str | None, shown: list[dict[str, Any]]) -> str | None:
        """The last message a poll delivered to this conversation, if `shown` (the chat a turn
        started from) does not have it; forgotten once asked."""
        with self._guard:
            message = self._delivered.pop(conversation_id or "", None)
        if message is None or any(message_text(m) == message for m in shown):
            return None
        return message

"""The customer chat at `/`: sign in or chat anonymously, see the assistant's steps, confirm.

The page only renders: every decision (who the customer is, what is pending, what runs) is the
assistant's, behind `ChatBackend`. The conversation id lives in a server-side `gr.State` per
browser session, and is remembered in the browser's storage (encrypted with a key from the
data dir) so a reload, or an app restart, resumes the same conversation from the database:
its messages, its Yes/No buttons if a confirmation is pending, and its watch for a staff
decision (a timer that polls while one is awaited, so the outcome arrives by itself).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any, Protocol

import gradio as gr

import settings
import tracing
from ui.between_turns import ConversationGate, said
from ui.cards import cards_markdown, escape
from ui.metrics import TurnLog, classify

log = logging.getLogger(__name__)

STORAGE_KEY = "store-assistant-conversation"
STREAM_CHUNKS = 12  # the reply is revealed in about this many steps...
STREAM_PAUSE_S = 0.015  # ...this far apart: visibly streaming, yet adds < 0.2 s per turn
MAX_MESSAGE_CHARS = 4000  # the text box refuses more; the guardrails refuse more still
SORRY = (
    "Sorry, something went wrong on our side and nothing was changed. Please try again in a "
    "moment, or press “Talk to a person”."
)
HANDOFF_MESSAGE = "I'd like to talk to a person, please."
POLL_S = 4  # how soon a staff decision reaches an open chat; a poll is a few small reads
STEP_ICONS = {
    "guardrail": "🛡️",
    "route": "🧭",
    "routing": "🧭",
    "plan": "🗺️",
    "retrieval": "📚",
    "tool": "🔧",
    "agent": "🤖",
    "approval": "🧑‍💼",
    "budget": "⏱️",
}


class TurnLike(Protocol):
    reply: str
    steps: Sequence[Any]  # {kind, title, detail}: dicts or pydantic models
    confirmation: Any  # None, or the pending action (token, summary)
    handoff: bool
    trace_id: str | None
    cards: list[dict[str, Any]]


class ConversationLike(Protocol):
    pending: Any  # the action awaiting the customer's yes, or None
    approvals: Sequence[Any]  # approvals awaiting a staff decision
    history: Sequence[Any]


class NewsLike(Protocol):
    result: TurnLike | None  # the outcome of a staff decision, already saved in the history
    waiting: int  # approvals still undecided


class ChatBackend(Protocol):
    """What the page needs from the assistant (crew.assistant.Assistant provides it)."""

    def start(self, *, customer_id: str | None = None) -> str: ...

    def turn(self, conversation_id: str, message: str, *, client_id: str = "local") -> TurnLike: ...

    def sign_in(self, conversation_id: str, **identity: str) -> TurnLike: ...

    def history(self, conversation_id: str) -> Sequence[Any]: ...

    def state(self, conversation_id: str) -> ConversationLike: ...

    def report_decisions(self, conversation_id: str) -> NewsLike: ...


def _plain(step: Any) -> dict[str, Any]:
    return step.model_dump() if hasattr(step, "model_dump") else dict(step)


def step_messages(steps: Sequence[Any]) -> list[dict[str, Any]]:
    """The assistant's steps ({kind, title, detail}) as collapsed "thinking" bubbles, nested
    under one parent."""
    if not steps:
        return []
    steps = [_plain(step) for step in steps]
    children = [
        {
            "role": "assistant",
            "content": str(step.get("detail") or ""),
            "metadata": {
                "title": f"{STEP_ICONS.get(str(step.get('kind')), '•')} {step.get('title', '')}",
                "parent_id": "steps",
                "status": "done",
            },
        }
        for step in steps
    ]
    parent = {
        "role": "assistant",
        "content": "",
        "metadata": {
            "title": f"How I worked this out ({len(steps)} steps)",
            "id": "steps",
            "status": "done",
        },
    }
    return [parent, *children]


def reply_text(result: TurnLike, show_trace: bool) -> str:
    """The reply with its cards as tables and, for developers, a link to the trace."""
    parts = [result.reply]
    if result.cards:
        parts.append(cards_markdown(result.cards))
    if result.confirmation:
        parts.append("_Press **Yes** or **No** below, or type your answer._")
    if result.handoff:
        parts.append("_A member of our team will pick this up; you can keep chatting here._")
    if show_trace and result.trace_id and (url := tracing.trace_url(result.trace_id)):
        parts.append(f"<sub>[Open this turn's trace in Phoenix]({url})</sub>")
    return "\n\n".join(part for part in parts if part)


def _chunks(text: str, count: int) -> Iterator[str]:
    """Growing prefixes of `text`, cut at spaces, ending with the whole text."""
    words = text.split(" ")
    step = max(1, len(words) // count)
    for end in range(step, len(words), step):
        yield " ".join(words[:end])
    yield text


def history_messages(entries: Sequence[Any]) -> list[dict[str, Any]]:
    """A stored conversation (dicts or objects with role/content) as chatbot messages."""
    messages = []
    for entry in entries:
        role = entry.get("role") if isinstance(entry, dict) else getattr(entry, "role", None)
        content = (
            entry.get("content") if isinstance(entry, dict) else getattr(entry, "content", None)
        )
        if role in ("user", "assistant") and content:
            messages.append({"role": role, "content": str(content)})
    return messages


class ChatPage:
    """Handlers of the page, bound to one assistant (kept apart from layout for testing)."""

    def __init__(self, assistant: ChatBackend, turns: TurnLog | None = None) -> None:
        self.assistant = assistant
        self.turns = turns
        self.gate = ConversationGate()

    def _run(
        self, conversation_id: str | None, call: Callable[[str], TurnLike]
    ) -> tuple[str | None, TurnLike | None]:
        """(conversation id, result or None): starts the conversation on first use."""
        if not conversation_id:
            try:
                conversation_id = self.assistant.start()
            except Exception:
                log.exception("could not start a conversation")
                return None, None
        started = conversation_id
        with self.gate.turn(started):
            return started, self._call(started, lambda: call(started))

    def _call(self, conversation_id: str, run: Callable[[], TurnLike]) -> TurnLike | None:
        """Run one assistant call, time it, record it for the dashboard; None if it raised."""
        started = time.perf_counter()
        result: TurnLike | None = None
        error: Exception | None = None
        try:
            result = run()
        except Exception as exc:
            log.exception("turn failed")
            error = exc
        if self.turns is not None:
            usage = None
            if result is not None and hasattr(self.assistant, "state"):
                with suppress(Exception):  # metrics are best effort, never the turn's failure
                    usage = self.assistant.state(conversation_id).usage
            latency_ms = (time.perf_counter() - started) * 1000
            self.turns.record(conversation_id, latency_ms, classify(result, error), usage)
        return result

    def respond(
        self,
        message: str,
        history: list[dict[str, Any]],
        conversation_id: str | None,
        show_trace: bool,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one turn: the question, a pending bubble, the steps, then the reply.

        Yields (chat, text box, conversation id, Yes/No row, remembered id, decision timer)."""
        message = (message or "").strip()
        if not message:
            yield history, "", conversation_id, gr.update(), conversation_id, gr.update()
            return
        shown = history
        history = [*history, {"role": "user", "content": message}]
        pending = {
            "role": "assistant",
            "content": "",
            "metadata": {"title": "Working on it…", "status": "pending"},
        }
        hidden = gr.update(visible=False)
        yield [*history, pending], "", conversation_id, hidden, conversation_id, gr.update()
        client = _client_id(request)
        conversation_id, result = self._run(
            conversation_id, lambda cid: self.assistant.turn(cid, message, client_id=client)
        )
        if missed := self.gate.missed(conversation_id, shown):  # see ui.between_turns
            history.insert(len(shown), {"role": "assistant", "content": missed})
        watch = gr.Timer(active=self._waiting(conversation_id))
        if result is None:
            history.append({"role": "assistant", "content": SORRY})
            yield history, "", conversation_id, hidden, conversation_id, watch
            return
        history += step_messages(result.steps)
        buttons = gr.update(visible=bool(result.confirmation))
        text = reply_text(result, show_trace)
        # Stream the prose only: a half-drawn table or link would flicker.
        for prefix in _chunks(result.reply or "", STREAM_CHUNKS):
            streamed = [*history, {"role": "assistant", "content": prefix}]
            yield streamed, "", conversation_id, gr.update(), conversation_id, gr.update()
            time.sleep(STREAM_PAUSE_S)
        history.append({"role": "assistant", "content": text})
        yield history, "", conversation_id, buttons, conversation_id, watch

    def sign_in(
        self,
        history: list[dict[str, Any]],
        conversation_id: str | None,
        show_trace: bool,
        identity: dict[str, str],
    ) -> tuple[Any, ...]:
        identity = {key: value.strip() for key, value in identity.items() if value.strip()}
        if not identity:
            note = "Please enter your email, or your first name, last name and zip code."
            return [*history, {"role": "assistant", "content": note}], conversation_id
        conversation_id, result = self._run(
            conversation_id, lambda cid: self.assistant.sign_in(cid, **identity)
        )
        if result is None:
            return [*history, {"role": "assistant", "content": SORRY}], conversation_id
        reply = {"role": "assistant", "content": reply_text(result, show_trace)}
        return [*history, reply], conversation_id

    def restore(self, remembered: str | None) -> tuple[list[dict[str, Any]], str | None, Any, Any]:
        """On page load: resume the conversation this browser had, if the store still has it,
        as it was left: (chat, conversation id, Yes/No row, decision timer)."""
        if not remembered:
            return [], None, gr.update(visible=False), gr.Timer(active=False)
        try:
            state = self.assistant.state(remembered)
        except Exception:  # unknown or unreadable: start afresh rather than fail the page
            log.info("could not restore conversation %s; starting a new one", remembered)
            return [], None, gr.update(visible=False), gr.Timer(active=False)
        return (
            history_messages(state.history),
            remembered,
            gr.update(visible=state.pending is not None),
            gr.Timer(active=bool(state.approvals)),
        )

    def poll(
        self, history: list[dict[str, Any]], conversation_id: str | None, show_trace: bool
    ) -> tuple[Any, Any]:
        """A timer tick while a staff decision is awaited: (chat, timer). Appends the outcome
        once it is decided (the assistant saved it in the conversation), shows the saved chat
        if another tab of the conversation got it first, and stops the timer when nothing is
        awaited any more."""
        if not conversation_id:
            return gr.update(), gr.Timer(active=False)
        with self.gate.poll(conversation_id) as free:
            if not free:  # a turn is running; it reports any decision itself
                return gr.update(), gr.update()
            try:
                news = self.assistant.report_decisions(conversation_id)
            except Exception:  # a turn saved first, or the store hiccuped: try next tick
                log.info("could not poll conversation %s for decisions", conversation_id)
                return gr.update(), gr.update()
            timer = gr.Timer(active=news.waiting > 0)
            if news.result is None:
                return self._catch_up(history, conversation_id), timer
            text = reply_text(news.result, show_trace)
            self.gate.delivered(conversation_id, text)
        reply = {"role": "assistant", "content": text}
        return [*history, *step_messages(news.result.steps), reply], timer

    def _catch_up(self, shown: list[dict[str, Any]], conversation_id: str) -> Any:
        """The saved conversation if it holds more than this tab shows (another tab's poll, or
        turn, told it what this tab has not seen); otherwise no change. One read, no model."""
        try:
            saved = history_messages(self.assistant.history(conversation_id))
        except Exception:
            log.info("could not read conversation %s", conversation_id)
            return gr.update()
        return saved if said(saved) > said(shown) else gr.update()

    def _waiting(self, conversation_id: str | None) -> bool:
        """Whether the conversation awaits a staff decision (after a turn: poll for it)."""
        if not conversation_id:
            return False
        try:
            return bool(self.assistant.state(conversation_id).approvals)
        except Exception:
            log.info("could not read conversation %s", conversation_id)
            return False


def _client_id(request: gr.Request | None) -> str:
    """Who to rate-limit per client (the session limit is the conversation's): the peer's
    address, as uvicorn reports it (behind a proxy on 127.0.0.1, its X-Forwarded-For)."""
    if request is None or request.client is None:
        return "local"
    return request.client.host or "local"


def build(assistant: ChatBackend, turns: TurnLog | None = None) -> gr.Blocks:
    page = ChatPage(assistant, turns)
    with gr.Blocks(title="Store assistant", analytics_enabled=False) as blocks:
        conversation = gr.State(None)
        remembered = gr.BrowserState(
            None, storage_key=STORAGE_KEY, secret=settings.local_secret("browser-state-key")
        )
        gr.Markdown(
            "## Store assistant\nAsk about your orders, returns, exchanges, "
            "products and our policies."
        )
        with gr.Accordion("Sign in (optional: you can also just say who you are)", open=False):
            with gr.Tab("Email"):
                email = gr.Textbox(label="Email", max_length=254, elem_id="signin-email")
                email_button = gr.Button("Sign in with email", elem_id="signin-email-button")
            with gr.Tab("Name and zip code"):
                with gr.Row():
                    first = gr.Textbox(label="First name", max_length=100)
                    last = gr.Textbox(label="Last name", max_length=100)
                    zip_code = gr.Textbox(label="Zip code", max_length=10)
                name_button = gr.Button("Sign in with name and zip code")
        chatbot = gr.Chatbot(
            label="Conversation",
            height=520,
            elem_id="chatbot",
            placeholder="Hi! How can I help you today?",
            feedback_options=None,
            buttons=["copy"],
        )
        with gr.Row(visible=False) as confirm_row:
            yes = gr.Button("Yes, go ahead", variant="primary", elem_id="confirm-yes")
            no = gr.Button("No", elem_id="confirm-no")
        with gr.Row():
            message = gr.Textbox(
                show_label=False,
                placeholder="Type your message…",
                max_length=MAX_MESSAGE_CHARS,
                scale=5,
                elem_id="message",
            )
            send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
        with gr.Row():
            human = gr.Button("Talk to a person", size="sm", elem_id="talk-to-person")
            new = gr.Button("Start a new conversation", size="sm")
            show_trace = gr.Checkbox(
                label="Developer: link each reply to its trace", value=False, container=False
            )

        # Runs only while the conversation awaits a staff decision (turns and reloads say so).
        decisions = gr.Timer(POLL_S, active=False)
        turn_outputs = [chatbot, message, conversation, confirm_row, remembered, decisions]

        def say(text: str):
            def handler(history, conversation_id, trace_on, request: gr.Request):
                yield from page.respond(text, history, conversation_id, trace_on, request)

            return handler

        state_inputs = [chatbot, conversation, show_trace]
        gr.on(
            [message.submit, send.click],
            page.respond,
            [message, *state_inputs],
            turn_outputs,
            api_name="send",
        )
        yes.click(say("Yes"), state_inputs, turn_outputs, api_name="yes")
        no.click(say("No"), state_inputs, turn_outputs, api_name="no")
        human.click(say(HANDOFF_MESSAGE), state_inputs, turn_outputs, api_name="human")

        def sign_in_email(history, conversation_id, trace_on, address):
            history, conversation_id = page.sign_in(
                history, conversation_id, trace_on, {"email": address}
            )
            return history, conversation_id, conversation_id

        def sign_in_name(history, conversation_id, trace_on, first_name, last_name, zip_):
            identity = {"first_name": first_name, "last_name": last_name, "zip": zip_}
            history, conversation_id = page.sign_in(history, conversation_id, trace_on, identity)
            return history, conversation_id, conversation_id

        signed = [chatbot, conversation, remembered]
        gr.on(
            [email.submit, email_button.click],
            sign_in_email,
            [*state_inputs, email],
            signed,
            api_name="sign_in_email",
        )
        name_button.click(
            sign_in_name, [*state_inputs, first, last, zip_code], signed, api_name="sign_in_name"
        )

        def start_over():
            return [], None, gr.update(visible=False), None, gr.Timer(active=False)

        new.click(
            start_over,
            None,
            [chatbot, conversation, confirm_row, remembered, decisions],
            api_name="new",
        )
        decisions.tick(
            page.poll,
            state_inputs,
            [chatbot, decisions],
            api_name="decisions",
            show_progress="hidden",
        )

        def on_load(stored):
            history, conversation_id, buttons, timer = page.restore(stored)
            return history, conversation_id, conversation_id, buttons, timer

        blocks.load(
            on_load,
            [remembered],
            [chatbot, conversation, remembered, confirm_row, decisions],
            api_visibility="private",
        )
    return blocks


__all__ = ["ChatBackend", "ChatPage", "build", "escape", "reply_text", "step_messages"]

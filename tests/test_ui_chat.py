"""The customer chat through its real HTTP API (`gradio_client`) with the real assistant on the
offline backend: sign-in, readable order details, steps, confirmation buttons, a large refund
decided in the console and reported back, handoffs, isolation between sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import gradio as gr
import pytest
from gradio_client import Client

from shop import approvals
from tests.ui_support import ready_assistant, ready_data, serve
from ui import chat, metrics

pytestmark = pytest.mark.slow

PASSWORD = "chat-tests-staff-password"
CUSTOMER_EMAIL = "aarav.davis2239@example.com"  # aarav_davis_5411
BIG_ORDER = "#W6552785"  # delivered; its espresso machine alone is $3,105.60


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server, _ = serve(tmp_path_factory, PASSWORD, failure_delay_s=0.05)
    yield server, ready_data(tmp_path_factory)["engine"]
    server.stop()


@pytest.fixture(scope="module")
def customer(site):
    server, _ = site
    return Client(f"{server.url}/", verbose=False)


def text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)


def replies(history: list[dict[str, Any]]) -> list[str]:
    """The assistant's visible replies (not its collapsed steps)."""
    return [text(m) for m in history if m["role"] == "assistant" and not m.get("metadata")]


def steps(history: list[dict[str, Any]]) -> list[str]:
    return [m["metadata"]["title"] for m in history if m.get("metadata")]


def test_sign_in_by_email(customer):
    history, _conversation = customer.predict([], False, CUSTOMER_EMAIL, api_name="/sign_in_email")
    assert "signed in" in replies(history)[-1].lower()


def test_order_status_is_a_table_with_the_steps_behind_it(customer):
    history, box, *_ = customer.predict(
        f"where is my order {BIG_ORDER}?", [], False, api_name="/send"
    )
    reply = replies(history)[-1]
    assert box == ""
    assert "delivered" in reply.lower()
    assert "| Name | Options | Price |" in reply and "$3,105.60" in reply
    assert "{" not in reply  # no JSON for customers
    titles = steps(history)
    assert any("Intents: order_status" in t for t in titles)
    assert any("get_order_details" in t for t in titles)


def test_large_return_waits_for_staff_and_the_outcome_arrives_by_itself(
    site, customer, tmp_path_factory
):
    server, engine = site
    history, *_ = customer.predict(
        f"I want to return the espresso machine from {BIG_ORDER}, refund to my paypal",
        [],
        False,
        api_name="/send",
    )
    assert "Press **Yes** or **No**" in replies(history)[-1]
    history, *_ = customer.predict([], False, api_name="/yes")
    reply = replies(history)[-1].lower()
    assert "approv" in reply, reply
    [pending] = [
        a
        for a in approvals.list_approvals(engine, "pending")
        if a.arguments.get("order_id") == BIG_ORDER
    ]

    # The calls above each sent only their own part of the chat; a tab shows all of it.
    saved = ready_assistant(tmp_path_factory).history(pending.conversation_id)
    history = gr.Chatbot().postprocess(chat.history_messages(saved)).model_dump()

    staff = Client(f"{server.url}/staff/", auth=("staff", PASSWORD), verbose=False)
    detail = staff.predict(pending.id, api_name="/approval_detail")
    assert "espresso machine" in detail.lower()  # the console shows the conversation
    message, *_ = staff.predict(pending.id, "approved, sorry for the trouble", api_name="/approve")
    assert message.startswith(f"Approved #{pending.id}")

    # The page's timer asks; the outcome comes without the customer writing, and only once.
    history, *_ = customer.predict(history, False, api_name="/decisions")
    assert "approved" in replies(history)[-1].lower()
    assert "will review it" not in replies(history)[-1]  # the outcome, not the question again
    assert any(f"Approval #{pending.id}: approved" in t for t in steps(history))
    again, *_ = customer.predict(history, False, api_name="/decisions")
    assert again == {"__type__": "update"}  # nothing more to add
    saved = ready_assistant(tmp_path_factory).history(pending.conversation_id)
    told = [m for m in saved if m["role"] == "assistant" and "approved" in m["content"].lower()]
    assert len(told) == 1  # what a reload shows
    history, *_ = customer.predict("any news on my refund?", [], False, api_name="/send")
    assert "approved your request" not in replies(history)[-1].lower()  # not told twice


CUSTOMER = "aarav_davis_5411"
OTHER_EMAIL = "noah.brown7922@example.com"  # noah_brown_6181's


def watching(assistant, engine, approval: dict[str, str] | None) -> str:
    """A conversation of CUSTOMER watching an approval with row fields `approval` (None: a
    row that no longer exists)."""
    from uuid import uuid4

    from crew.state import WatchedApproval
    from shop.db import transaction

    conversation_id = assistant.start(customer_id=CUSTOMER)
    approval_id = 10**9
    if approval is not None:
        with transaction(engine) as session:
            row = approvals.create(
                session,
                action="return_delivered_order_items",
                arguments={"order_id": BIG_ORDER},
                customer_id=CUSTOMER,
                conversation_id=conversation_id,
                idempotency_key=uuid4().hex,
                fingerprint=uuid4().hex,
                amount=Decimal("3105.60"),
                requested_by="assistant",
            )
            for name, value in approval.items():
                setattr(row, name, value)
            approval_id = row.id
    state, version = assistant.conversations.load(conversation_id)
    summary = f"return of the espresso machine from {BIG_ORDER}"
    state.approvals.append(WatchedApproval(approval_id=approval_id, summary=summary))
    assistant.conversations.save(state, version)
    return conversation_id


def failed(message: str) -> dict[str, Any]:
    return {"status": "failed", "outcome": {"error": {"message": message}}}


@pytest.mark.parametrize("path", ["poll", "turn"])
@pytest.mark.parametrize(
    ("decision", "withheld"),
    [
        ({"status": "rejected", "note": "the item shows wear beyond normal use"}, False),
        (failed("The payment provider timed out."), False),
        (failed("Order #W0000001 is not returnable."), True),  # an order nobody read
        (failed(f"Contact {OTHER_EMAIL}."), True),  # another customer's data
        # Staff notes are trusted as a source, so personal data in them is redacted instead.
        ({"status": "rejected", "note": f"as agreed with {OTHER_EMAIL}"}, False),
        ({"status": "rejected", "note": "refunded to card 4111 1111 1111 1111"}, False),
    ],
    ids=["rejected", "failed", "invented-order", "foreign-email", "note-email", "note-card"],
)
def test_a_decision_reported_by_a_poll_passes_the_same_output_check_as_a_turn(
    site, tmp_path_factory, path, decision, withheld
):
    from crew.replies import say

    assistant = ready_assistant(tmp_path_factory)
    _, engine = site
    conversation_id = watching(assistant, engine, decision)
    if path == "poll":
        result = assistant.report_decisions(conversation_id).result
    else:
        result = assistant.turn(conversation_id, "hi")
    titles = [step.title for step in result.steps]
    saved = assistant.history(conversation_id)[-1]["content"]
    assert OTHER_EMAIL not in result.reply and "#W0000001" not in result.reply
    assert "4111" not in result.reply
    assert not any(OTHER_EMAIL in (step.detail or "") for step in result.steps)
    assert ("Reply withheld: ungrounded facts" in titles) is withheld, titles
    assert (result.reply == say("tool_error")) is withheld, result.reply
    assert saved == result.reply


def test_a_poll_that_reports_a_decision_is_a_traced_span_with_its_output_check(
    site, tmp_path_factory
):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import tracing

    assistant = ready_assistant(tmp_path_factory)
    _, engine = site
    conversation_id = watching(assistant, engine, failed("Order #W0000001 is not returnable."))
    exporter = InMemorySpanExporter()
    tracing.setup(None, exporter=exporter)
    try:
        result = assistant.report_decisions(conversation_id).result
        tracing.flush()
    finally:
        tracing.setup(None)
    spans = {
        s.name: s
        for s in exporter.get_finished_spans()
        if f"{s.context.trace_id:032x}" == result.trace_id
    }
    assert {"report_decisions", "guardrails.grounding"} <= set(spans), set(spans)
    assert spans["guardrails.grounding"].attributes["guardrails.grounding.allowed"] is False
    assert spans["report_decisions"].attributes["session.id"] == conversation_id


def test_polling_stops_when_the_watched_approval_no_longer_exists(site, tmp_path_factory):
    assistant = ready_assistant(tmp_path_factory)
    _, engine = site
    conversation_id = watching(assistant, engine, None)
    shown = chat.history_messages(assistant.history(conversation_id))
    history, timer = chat.ChatPage(assistant).poll(shown, conversation_id, False)
    assert history == gr.update() and not timer.active


def test_talk_to_a_person_opens_a_ticket(customer):
    history, *_ = customer.predict([], False, api_name="/human")
    assert (
        any("ticket" in t.lower() for t in steps(history))
        or "person" in replies(history)[-1].lower()
    )


def test_sessions_are_isolated(site):
    server, _ = site
    stranger = Client(f"{server.url}/", verbose=False)
    history, *_ = stranger.predict(f"where is my order {BIG_ORDER}?", [], False, api_name="/send")
    reply = replies(history)[-1]
    assert "3,105.60" not in reply and "espresso" not in reply.lower()


def test_turns_reach_the_dashboard(site):
    server, _ = site
    staff = Client(f"{server.url}/staff/", auth=("staff", PASSWORD), verbose=False)
    summary, turns, *_ = staff.predict("last hour", api_name="/dashboard")
    assert "turns" in summary and "Latency p50" in summary
    plot = turns["value"]  # an update: the data and the buckets' order on the time axis
    assert [row[0] for row in plot["data"]][-1] == turns["sort"][-1]  # the current bucket last
    value = plot["columns"].index("value")
    assert sum(row[value] for row in plot["data"]) > 0  # bars with a height


# -- the page's own behaviour, with scripted assistants --------------------------------------


@dataclass
class Result:
    reply: str
    steps: list[dict[str, str]] = field(default_factory=list)
    confirmation: Any = None
    handoff: bool = False
    trace_id: str | None = None
    cards: list[dict[str, Any]] = field(default_factory=list)


class Broken:
    def start(self, *, customer_id=None):
        return "c1"

    def turn(self, conversation_id, message, *, client_id="local"):
        raise RuntimeError("database is down")

    def state(self, conversation_id):
        raise KeyError(conversation_id)

    history = state


def test_a_failing_turn_gets_a_friendly_reply_not_a_traceback():
    *_, (history, _box, conversation, _buttons, _, _timer) = chat.ChatPage(Broken()).respond(
        "hello", [], None, False
    )
    assert history[-1]["content"] == chat.SORRY
    assert conversation == "c1"


@dataclass
class Conversation:
    pending: Any = None
    approvals: list[int] = field(default_factory=list)
    history: list[dict[str, str]] = field(
        default_factory=lambda: [{"role": "user", "content": "return my laptop"}]
    )


@dataclass
class News:
    result: Result | None = None
    waiting: int = 0


OUTCOME = "Good news: a staff member approved your request."


class AwaitingApproval:
    """A conversation waiting for one staff decision, reported once after `decided`."""

    def __init__(self) -> None:
        self.decided = False
        self.told = False
        self.polls = 0
        self.saved = [{"role": "user", "content": "refund please"}]

    def history(self, conversation_id):
        return self.saved

    def start(self, *, customer_id=None):
        return "c1"

    def turn(self, conversation_id, message, *, client_id="local"):
        return Result(f"You said {message}.")

    def state(self, conversation_id):
        return Conversation(approvals=[] if self.told else [1])

    def report_decisions(self, conversation_id):
        self.polls += 1
        if not self.decided or self.told:
            return News(waiting=0 if self.told else 1)
        self.told = True
        self.saved = [*self.saved, {"role": "assistant", "content": OUTCOME}]
        return News(Result(OUTCOME, [{"kind": "approval", "title": "Approval #1: approved"}]))


def outcomes(history: list[dict[str, Any]]) -> int:
    return sum(m["content"] == OUTCOME for m in history)


def test_the_outcome_of_a_decision_is_appended_once_and_the_polling_stops():
    page = chat.ChatPage(AwaitingApproval())
    shown = [{"role": "user", "content": "refund please"}]
    unchanged, timer = page.poll(shown, "c1", False)
    assert unchanged == gr.update() and timer.active  # undecided: keep asking
    page.assistant.decided = True
    history, timer = page.poll(shown, "c1", False)
    assert outcomes(history) == 1 and history[-1]["content"] == OUTCOME
    assert any("Approval #1: approved" in title for title in steps(history))
    assert not timer.active  # nothing left to wait for
    assert page.poll(history, "c1", False)[0] == gr.update()


def test_a_poll_waits_while_a_turn_holds_the_conversation():
    page = chat.ChatPage(AwaitingApproval())
    page.assistant.decided = True
    with page.gate.turn("c1"):
        assert page.poll([], "c1", False) == (gr.update(), gr.update())
    assert page.assistant.polls == 0  # the turn itself reports a decision


def test_a_turn_sent_as_a_poll_delivered_keeps_the_outcome_on_screen():
    page = chat.ChatPage(AwaitingApproval())
    page.assistant.decided = True
    shown = [{"role": "user", "content": "refund please"}]
    page.poll(shown, "c1", False)  # its answer had not reached the page when it sent:
    *_, (history, *_) = page.respond("thanks", shown, "c1", False)
    assert outcomes(history) == 1
    assert [m["content"] for m in history if not m.get("metadata")] == [
        "refund please",
        OUTCOME,
        "thanks",
        "You said thanks.",
    ]


def browser(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat as the page's next event gets it back: Gradio's round trip through the browser
    turns each content into a list of parts."""
    chatbot = gr.Chatbot()
    return chatbot.preprocess(chatbot.postprocess(history))


@pytest.mark.parametrize("round_trip", [False, True], ids=["as-sent", "via-browser"])
def test_a_turn_after_a_delivered_outcome_does_not_show_it_again(round_trip):
    page = chat.ChatPage(AwaitingApproval())
    page.assistant.decided = True
    delivered, _ = page.poll([{"role": "user", "content": "refund please"}], "c1", False)
    shown = browser(delivered) if round_trip else delivered
    *_, (history, *_) = page.respond("thanks", shown, "c1", False)
    assert sum(text(m) == OUTCOME for m in history) == 1


def test_another_tab_of_the_conversation_shows_the_outcome_one_tab_received():
    page = chat.ChatPage(AwaitingApproval())
    page.assistant.decided = True
    shown = browser([{"role": "user", "content": "refund please"}])
    first, _ = page.poll(shown, "c1", False)
    second, timer = page.poll(shown, "c1", False)  # nothing waits any more, but it lags behind
    assert [text(m) for m in second] == ["refund please", OUTCOME]
    assert not timer.active
    assert page.poll(browser(first), "c1", False)[0] == gr.update()  # up to date: unchanged


@pytest.mark.parametrize(
    ("remembered", "conversation", "buttons", "polling"),
    [
        (None, None, False, False),
        ("gone", None, False, False),  # the store no longer has it: start afresh
        ("c1", Conversation(), False, False),
        ("c1", Conversation(pending={"token": "t"}), True, False),  # Yes/No come back
        ("c1", Conversation(approvals=[1]), False, True),  # the watch for a decision too
    ],
)
def test_a_reload_restores_the_buttons_and_the_watch(remembered, conversation, buttons, polling):
    class Stored(Broken):
        def state(self, conversation_id):
            if conversation is None:
                raise KeyError(conversation_id)
            return conversation

    history, conversation_id, row, timer = chat.ChatPage(Stored()).restore(remembered)
    assert conversation_id == (remembered if conversation else None)
    assert history == (conversation.history if conversation else [])
    assert (row["visible"], timer.active) == (buttons, polling)


@pytest.mark.parametrize(
    ("result", "outcome", "trips", "failure"),
    [
        (
            Result("hi", [{"kind": "guardrail", "title": "Input checks passed"}]),
            "answered",
            [],
            None,
        ),
        (
            Result("no", [{"kind": "guardrail", "title": "Message refused: injection"}]),
            "refused",
            ["injection"],
            None,
        ),
        (
            Result("slow", [{"kind": "budget", "title": "Turn budget reached"}]),
            "refused",
            ["budget"],
            "budget",
        ),
        (Result("ok?", confirmation={"token": "t"}), "confirmation", [], None),
        (
            Result("wait", [{"kind": "approval", "title": "Sent for staff approval (#3)"}]),
            "approval",
            [],
            None,
        ),
        (Result("person", handoff=True), "handoff", [], None),
        (
            Result("hm", [{"kind": "tool", "title": "get_order_details()", "detail": "not_found"}]),
            "answered",
            [],
            "tool: not_found",
        ),
        (None, "failed", [], "RuntimeError"),
    ],
)
def test_turns_are_classified_for_the_dashboard(result, outcome, trips, failure):
    facts = metrics.classify(result, RuntimeError() if result is None else None)
    assert (facts.outcome, facts.trips, facts.failure) == (outcome, trips, failure)


@pytest.mark.parametrize(
    ("card", "expected", "absent"),
    [
        (
            {"type": "order", "order_id": "#W1", "items": [{"name": "Lamp", "price": 5}]},
            ["**Order \\#W1**", "| Lamp | $5.00 |"],
            ["{"],
        ),
        ({"title": "<script>alert(1)</script>", "fields": "x"}, ["\\<script\\>"], ["<script>"]),
        ({"type": "product", "name": "A | B"}, ["A \\| B"], ["| A | B |"]),
    ],
)
def test_cards_render_as_escaped_tables(card, expected, absent):
    from ui.cards import card_markdown

    markdown = card_markdown(card)
    assert all(piece in markdown for piece in expected), markdown
    assert not any(piece in markdown for piece in absent), markdown

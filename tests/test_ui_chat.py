"""The customer chat through its real HTTP API (`gradio_client`) with the real assistant on the
offline backend: sign-in, readable order details, steps, confirmation buttons, a large refund
decided in the console and reported back, handoffs, isolation between sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from gradio_client import Client

from shop import approvals
from tests.ui_support import ready_data, serve
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
    history, box, _ = customer.predict(
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


def test_large_return_waits_for_staff_and_the_customer_hears_the_outcome(site, customer):
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

    staff = Client(f"{server.url}/staff/", auth=("staff", PASSWORD), verbose=False)
    detail = staff.predict(pending.id, api_name="/approval_detail")
    assert "espresso machine" in detail.lower()  # the console shows the conversation
    message, *_ = staff.predict(pending.id, "approved, sorry for the trouble", api_name="/approve")
    assert message.startswith(f"Approved #{pending.id}")

    history, *_ = customer.predict("any news on my refund?", [], False, api_name="/send")
    assert "approved" in replies(history)[-1].lower()


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
    summary, volume, *_ = staff.predict("last hour", api_name="/dashboard")
    assert "turns" in summary and "Latency p50" in summary
    assert volume["data"]  # a plot with points


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

    def history(self, conversation_id):
        raise KeyError(conversation_id)


def test_a_failing_turn_gets_a_friendly_reply_not_a_traceback():
    *_, (history, _box, conversation, _buttons, _) = chat.ChatPage(Broken()).respond(
        "hello", [], None, False
    )
    assert history[-1]["content"] == chat.SORRY
    assert conversation == "c1"


def test_an_unknown_remembered_conversation_starts_afresh():
    assert chat.ChatPage(Broken()).restore("gone") == ([], None)


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

"""The staff console through its real HTTP API (`gradio_client`): login, approvals executed
exactly once, handoffs, the audit log, and knowledge base edits that retrieval then serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from phoenix_server import free_port
from shop import gateway, handoffs
from shop.db import transaction
from tests.ui_support import ready_data
from ui import auth, chat, staff, web

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
BIG_RETURN = {  # raj_davis_2615's delivered order: $1,451.48 refund, above the $1,000 threshold
    "order_id": "#W5463717",
    "item_ids": ["7166996157", "6589665742"],
    "payment_method_id": "gift_card_8006222",
}


class Transcripts:
    """The console reads conversations through the assistant; here, a fixed transcript."""

    def start(self, customer_id=None):
        return "conv-1"

    def turn(self, conversation_id, message, client_id="local"):
        raise AssertionError("the console never chats")

    def sign_in(self, conversation_id, **identity):
        raise AssertionError("the console never signs in")

    def history(self, conversation_id):
        return [{"role": "user", "content": "please refund the grill and the purifier"}]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = ready_data(tmp_path_factory)
    engine, store = data["engine"], data["knowledge"]
    console = staff.Console(engine=engine, assistant=Transcripts(), knowledge=store)
    gate = auth.StaffGate(PASSWORD, failure_delay_s=0.05, max_failures=3, lockout_s=60)
    pages = web.Pages(chat.build(Transcripts()), staff.build(console), gate.check)
    server = web.Server(web.build(pages), "127.0.0.1", free_port()).start()
    yield server, engine, store, gate
    server.stop()


@pytest.fixture(scope="module")
def console(site):
    server, *_ = site
    return Client(f"{server.url}/staff/", auth=(auth.STAFF_USER, PASSWORD), verbose=False)


def test_console_requires_the_password(site):
    server, *_ = site
    with pytest.raises(ValueError, match="Could not login"):
        Client(f"{server.url}/staff/", auth=(auth.STAFF_USER, "wrong"), verbose=False)


def test_chat_needs_no_login(site):
    server, *_ = site
    assert Client(f"{server.url}/", verbose=False).view_api(print_info=False, return_format="dict")


def test_approval_executes_exactly_once_and_is_audited(site, console):
    _, engine, *_ = site
    parked = gateway.execute(
        engine,
        customer_id="raj_davis_2615",
        action="return_delivered_order_items",
        arguments=BIG_RETURN,
        idempotency_key="test-big-return",
        actor="customer:raj_davis_2615",
        conversation_id="conv-1",
    )
    assert parked.status == "pending_approval"
    approval = parked.approval_id

    pending = console.predict(api_name="/pending_approvals")
    assert approval in [row[0] for row in pending["data"]]
    detail = console.predict(approval, api_name="/approval_detail")
    assert "1,451.48" in detail and "please refund the grill" in detail

    message, table, _ = console.predict(approval, "ok, valued customer", api_name="/approve")
    assert message.startswith(f"Approved #{approval}")
    assert approval not in [row[0] for row in table["data"]]
    again, *_ = console.predict(approval, "twice?", api_name="/approve")
    assert again.startswith("Not done")

    with transaction(engine) as session:
        from shop.models import Order

        assert session.get(Order, "#W5463717").status == "return requested"
    log = console.predict("decide", api_name="/audit")
    assert any(row[2] == "staff:staff" for row in log["data"])


def test_rejecting_needs_a_reason(site, console):
    message, *_ = console.predict(1_000_000, "", api_name="/reject")
    assert message == "Please give the customer a reason when rejecting."


def test_handoff_is_listed_and_resolved_once(site, console):
    _, engine, *_ = site
    with transaction(engine) as session:
        ticket = handoffs.transfer_to_human_agents(
            session, "customer wants a person", customer_id=None, conversation_id="conv-1"
        )["ticket_id"]
    table = console.predict(api_name="/open_handoffs")
    assert ticket in [row[0] for row in table["data"]]
    assert "customer wants a person" in console.predict(ticket, api_name="/handoff_detail")
    message, table = console.predict(ticket, "called them back", api_name="/resolve")
    assert message == f"Ticket #{ticket} resolved."
    assert ticket not in [row[0] for row in table["data"]]
    message, _ = console.predict(ticket, "again", api_name="/resolve")
    assert message.startswith("Not done")


def test_policy_edit_is_versioned_and_served(site, console):
    _, _, store, _ = site
    doc_id = "returns-and-refunds"
    shown, body, _history = console.predict(doc_id, api_name="/kb_view")
    assert "v1" in shown
    edited = (
        body + "\n\n## Holiday returns\n\nItems bought in December can be returned until "
        "the 31st of January, which is our holiday returns window.\n"
    )
    result, *_ = console.predict(doc_id, edited, api_name="/kb_edit")
    assert result.startswith(f"Published {doc_id} v2"), result

    diff = console.predict(doc_id, 1, 2, api_name="/kb_diff")
    assert "+## Holiday returns" in diff
    hits = console.predict("can I return a December purchase in January?", api_name="/kb_search")
    assert any("(v2)" in row[1] and "holiday returns window" in row[2] for row in hits["data"])

    result, *_ = console.predict(doc_id, 1, api_name="/kb_rollback")
    assert result.startswith(f"Published {doc_id} v3")
    assert all("holiday" not in p.text.lower() for p in store.search("holiday returns window"))


@pytest.mark.parametrize(
    ("name", "content", "refusal"),
    [
        ("policy.exe", b"MZ\x90\x00binary", "not accepted"),
        ("empty.md", b"   \n", "Not done"),
        ("binary.md", b"\x00\x01\x02\xff" * 50, "Not done"),
    ],
)
def test_bad_uploads_are_refused(site, console, tmp_path: Path, name, content, refusal):
    path = tmp_path / name
    path.write_bytes(content)
    try:
        result, *_ = console.predict(handle_file(str(path)), None, api_name="/kb_upload")
    except Exception as error:  # Gradio itself refuses file types the component does not take
        assert "Invalid file type" in str(error) or "not allowed" in str(error)
        return
    assert refusal in result


def test_upload_adds_a_document(site, console, tmp_path: Path):
    path = tmp_path / "gift-wrapping.md"
    path.write_text(
        "# Gift wrapping\n\nWe gift-wrap any item for free: ask for it before the order ships.\n"
    )
    result, *_ = console.predict(handle_file(str(path)), None, api_name="/kb_upload")
    assert result.startswith("Published gift-wrapping v1"), result


def test_repeated_wrong_passwords_lock_the_door(site):
    server, *_, gate = site
    for _ in range(3):
        with pytest.raises(ValueError):
            Client(f"{server.url}/staff/", auth=(auth.STAFF_USER, "guess"), verbose=False)
    assert gate.locked()
    with pytest.raises(ValueError):  # even the right password, while locked
        Client(f"{server.url}/staff/", auth=(auth.STAFF_USER, PASSWORD), verbose=False)

"""The store tools: scopes, no model-filled customer, forged ids, confirmations, JSON errors."""

from __future__ import annotations

import json

import pytest
from crewai.tools import BaseTool

from crew.tools import TOOL_SCOPES, Confirmation, ToolContext, build_tools
from shop import approvals, operations
from tests.gateway_support import WRITE_CALLS, approval_threshold, payment_entries
from tests.store_support import (
    CARD,
    DELIVERED,
    INTRUDER,
    OWNER,
    PENDING,
    owner_records,
)

MISSING = "#W0000001"
# What the model passes: WRITE_CALLS without τ²'s user_id (the customer is bound by code).
MODEL_CALLS = {
    name: {k: v for k, v in arguments.items() if k != "user_id"}
    for name, arguments in WRITE_CALLS.items()
}


@pytest.fixture
def store(store):
    """The seeded store with every sample write executed at once (the gate has its own tests)."""
    with approval_threshold("1000000"):
        yield store


def tool(store, name, customer=OWNER, confirmation=None, conversation="c-1"):
    context = ToolContext(
        engine=store,
        customer_id=customer,
        conversation_id=conversation,
        confirmation=confirmation,
    )
    (built,) = build_tools(context, [name])
    return built


def confirmed(store, name, arguments, customer=OWNER, token="token-0001"):
    confirmation = Confirmation(token=token, action=name, arguments=arguments)
    return tool(store, name, customer, confirmation)


def answer(built, arguments) -> dict:
    return json.loads(built.run(**arguments))


def test_every_operation_has_one_tool_with_a_declared_scope(store):
    tools = build_tools(ToolContext(engine=store, customer_id=None), list(TOOL_SCOPES))

    assert {t.name for t in tools} == set(operations.WRITES) | set(operations.READS) - {"calculate"}
    for built in tools:
        assert isinstance(built, BaseTool)
        assert built.scope == TOOL_SCOPES[built.name]
        assert (built.scope == "write") == (built.name in operations.WRITES)
        assert len(built.description) > 40


@pytest.mark.parametrize("name", list(TOOL_SCOPES))
def test_no_tool_lets_the_model_name_a_customer(store, name):
    fields = tool(store, name).args_schema.model_json_schema().get("properties", {})
    assert not {"customer_id", "user_id"} & set(fields)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("get_order_details", {"order_id": DELIVERED}),
        ("get_user_details", {}),
        ("list_orders", {}),
        ("return_delivered_order_items", MODEL_CALLS["return_delivered_order_items"]),
    ],
)
def test_customer_tools_refuse_before_sign_in(store, name, arguments):
    reply = answer(tool(store, name, customer=None), arguments)
    assert reply["error"] == "not_authenticated"


def test_identity_lookups_work_before_sign_in(store):
    found = answer(tool(store, "find_user_id_by_email", customer=None), {"email": "nobody@x.io"})
    assert found["error"] == "not_found"


# Every tool that takes an order id, with the owner's arguments.
ORDER_TOOLS = [("get_order_details", {"order_id": DELIVERED})] + [
    (name, arguments) for name, arguments in MODEL_CALLS.items() if "order_id" in arguments
]


@pytest.mark.parametrize(("name", "arguments"), ORDER_TOOLS, ids=[n for n, _ in ORDER_TOOLS])
def test_another_customers_order_answers_like_a_missing_one(store, name, arguments):
    before = owner_records(store)
    order = arguments["order_id"]
    forged = {**arguments}
    missing = {**arguments, "order_id": MISSING}
    build = confirmed if TOOL_SCOPES[name] == "write" else None

    def ask(call, token):
        built = build(store, name, call, INTRUDER, token) if build else tool(store, name, INTRUDER)
        return answer(built, call)

    forged_reply, missing_reply = ask(forged, "token-forged"), ask(missing, "token-missing")

    assert forged_reply["error"] == missing_reply["error"] == "not_found"
    assert forged_reply["message"].replace(order, MISSING) == missing_reply["message"]
    assert owner_records(store) == before


RETURN = MODEL_CALLS["return_delivered_order_items"]
# (case, confirmation given to the context, or None)
SPOOFS = [
    ("no confirmation", None),
    ("confirmation of another action", ("exchange_delivered_order_items", RETURN)),
    ("other items", ("return_delivered_order_items", RETURN | {"item_ids": ["1234567890"]})),
    ("other refund method", ("return_delivered_order_items", RETURN | {"payment_method_id": "x"})),
    ("other order", ("return_delivered_order_items", RETURN | {"order_id": PENDING})),
    ("fewer arguments", ("return_delivered_order_items", {"order_id": DELIVERED})),
]


@pytest.mark.parametrize(("case", "confirmation"), SPOOFS, ids=[c for c, _ in SPOOFS])
def test_a_write_without_the_matching_confirmation_is_refused(store, case, confirmation):
    before = owner_records(store)
    given = None
    if confirmation is not None:
        given = Confirmation(token="token-0001", action=confirmation[0], arguments=confirmation[1])

    reply = answer(tool(store, "return_delivered_order_items", confirmation=given), RETURN)

    assert reply["error"] == "confirmation_required", case
    assert owner_records(store) == before


def test_a_confirmed_write_runs_once_even_when_called_twice(store):
    built = confirmed(store, "return_delivered_order_items", RETURN)

    first = answer(built, RETURN)
    after, entries = owner_records(store), payment_entries(store)
    second = answer(built, RETURN)

    assert first["status"] == "return requested" and first["return_items"] == [
        RETURN["item_ids"][0]
    ]
    assert second == first
    assert owner_records(store) == after and payment_entries(store) == entries


def test_a_confirmation_matches_arguments_as_the_schema_reads_them(store):
    spaced = RETURN | {"order_id": f"  {DELIVERED} "}  # the schema strips whitespace
    reply = answer(confirmed(store, "return_delivered_order_items", spaced), RETURN)
    assert reply["status"] == "return requested"


def test_a_refund_above_the_threshold_is_parked_for_staff(store):
    with approval_threshold("1.00"):
        reply = answer(confirmed(store, "return_delivered_order_items", RETURN), RETURN)

    assert reply["status"] == "pending_approval"
    (approval,) = approvals.approvals_for_conversation(store, "c-1")
    assert approval.id == reply["approval_id"] and approval.customer_id == OWNER


def test_the_default_address_tool_changes_the_signed_in_customer_only(store):
    arguments = MODEL_CALLS["modify_user_address"]
    reply = answer(confirmed(store, "modify_user_address", arguments), arguments)
    assert reply["user_id"] == OWNER and reply["address"]["city"] == arguments["city"]


def test_asking_for_a_person_works_before_sign_in(store):
    arguments = MODEL_CALLS["transfer_to_human_agents"]
    reply = answer(
        confirmed(store, "transfer_to_human_agents", arguments, customer=None), arguments
    )
    assert reply["status"] == "open" and reply["customer_id"] is None


# (case, tool, arguments): each answered with a JSON error, never an exception
BAD = [
    ("empty item list", "return_delivered_order_items", RETURN | {"item_ids": []}),
    ("items not a list", "return_delivered_order_items", RETURN | {"item_ids": "2206116040"}),
    ("unknown field", "get_order_details", {"order_id": DELIVERED, "customer_id": OWNER}),
    ("missing field", "get_order_details", {}),
    ("order id too long", "get_order_details", {"order_id": "#W" + "1" * 500}),
    (
        "HTML in an address",
        "modify_user_address",
        MODEL_CALLS["modify_user_address"] | {"city": "<b>x</b>"},
    ),
    ("price not a number", "search_variants", {"price_max": "cheap"}),
]


@pytest.mark.parametrize(("case", "name", "arguments"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_arguments_get_a_json_error(store, case, name, arguments):
    before = owner_records(store)
    built = confirmed(store, name, arguments) if TOOL_SCOPES[name] == "write" else tool(store, name)

    reply = answer(built, arguments)

    assert reply["error"] in {"invalid_argument", "not_found"}, case
    assert reply["message"]
    assert owner_records(store) == before


def test_reads_answer_with_the_records(store):
    order = answer(tool(store, "get_order_details"), {"order_id": DELIVERED})
    orders = answer(tool(store, "list_orders"), {})
    profile = answer(tool(store, "get_user_details"), {})

    assert order["order_id"] == DELIVERED and order["user_id"] == OWNER
    assert DELIVERED in {o["order_id"] for o in orders}
    assert profile["user_id"] == OWNER and CARD in profile["payment_methods"]

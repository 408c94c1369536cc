"""The offline planner on real demo-store records: the calls it makes and the replies it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from crewai.events.event_bus import crewai_event_bus
from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallStartedEvent

from crew.backends import planner
from crew.backends.offline import OfflineLLM
from crew.backends.planner import Lookup, results_key
from crew.plan import ItemRef, Step, StepReport, Target

DB = json.loads((Path(__file__).parents[1] / "shop" / "data" / "db.json").read_text())
PARAMETERS = {
    "get_user_details": set(),
    "get_order_details": {"order_id"},
    "get_product_details": {"product_id"},
    "list_all_product_types": set(),
    "return_delivered_order_items": {"order_id", "item_ids", "payment_method_id"},
    "exchange_delivered_order_items": {"order_id", "item_ids", "new_item_ids", "payment_method_id"},
    "cancel_pending_order": {"order_id", "reason"},
}


def answer(customer: str, tool: str, arguments: dict) -> str:
    """What the store's tools answer, from db.json, for `customer` only."""
    if tool == "get_user_details":
        return json.dumps(DB["users"][customer])
    if tool == "get_order_details":
        order = DB["orders"].get(arguments["order_id"])
        if order is None or order["user_id"] != customer:
            return json.dumps({"error": "not_found", "message": "Order not found"})
        return json.dumps(order)
    if tool == "get_product_details":
        return json.dumps(DB["products"][arguments["product_id"]])
    if tool == "list_all_product_types":
        return json.dumps({p["name"]: pid for pid, p in DB["products"].items()})
    raise AssertionError(f"the planner must not call {tool} while proposing")


def rounds(step: Step, customer: str) -> tuple[StepReport, list[list[str]]]:
    """The step's report and the tools asked for in each model call before it."""
    results: dict[str, str] = {}
    moves = []
    for _ in range(10):
        move = planner.next_move(step, Lookup(results, PARAMETERS))
        if isinstance(move, StepReport):
            return move, moves
        moves.append([call.tool for call in move])
        for call in move:
            results[results_key(call.tool, call.arguments)] = answer(
                customer, call.tool, call.arguments
            )
    raise AssertionError("the planner did not finish")


def run(step: Step, customer: str) -> tuple[StepReport, list[str]]:
    report, moves = rounds(step, customer)
    return report, [tool for move in moves for tool in move]


def step(kind: str, agent: str = "returns", **target) -> Step:
    return Step(id="s", kind=kind, agent=agent, intent=kind, target=Target(**target))


BLUE_SHIRT = ItemRef(text="blue shirt", product_type="T-Shirt", options={"color": "blue"})


@pytest.mark.parametrize(
    ("name", "the_step", "customer", "tool", "arguments"),
    [
        (
            "return by name and colour from the last order, original method",
            step("return", order_ref="latest", items=[BLUE_SHIRT]),
            "evelyn_brown_7612",
            "return_delivered_order_items",
            {
                "order_id": "#W7647404",
                "item_ids": ["9612497925"],
                "payment_method_id": "paypal_7053405",
            },
        ),
        (
            "return to the gift card",
            step(
                "return",
                order_id="#W7736708",
                items=[ItemRef(text="notebook")],
                payment="gift_card",
            ),
            "raj_sanchez_2970",
            "return_delivered_order_items",
            {
                "order_id": "#W7736708",
                "item_ids": ["6574183535"],
                "payment_method_id": "gift_card_2259499",
            },
        ),
        (
            "exchange for the white variant",
            step(
                "exchange",
                order_id="#W7678072",
                items=[ItemRef(product_type="Electric Kettle")],
                wanted={"color": "white"},
            ),
            "noah_brown_6181",
            "exchange_delivered_order_items",
            {
                "order_id": "#W7678072",
                "item_ids": ["2323972008"],
                "new_item_ids": ["5268233322"],
                "payment_method_id": "paypal_5727330",
            },
        ),
        (
            "cancel with a reason",
            step("cancel", "orders", order_id="#W4566809", reason="no longer needed"),
            "raj_sanchez_2970",
            "cancel_pending_order",
            {"order_id": "#W4566809", "reason": "no longer needed"},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else None,
)
def test_proposals(name, the_step, customer, tool, arguments):
    report, _ = run(the_step, customer)
    assert report.proposal is not None, report.reply
    assert report.proposal.tool == tool
    assert report.proposal.arguments == arguments


@pytest.mark.parametrize(
    ("the_step", "customer", "says"),
    [
        (
            step(
                "exchange",
                order_id="#W7678072",
                items=[ItemRef(product_type="Gaming Mouse")],
                wanted_product_type="Backpack",
            ),
            "noah_brown_6181",
            "same product",
        ),
        (step("cancel", "orders", order_id="#W4566809"), "raj_sanchez_2970", "reason"),
        (
            step("cancel", "orders", order_id="#W7678072", reason="no longer needed"),
            "noah_brown_6181",
            "only pending orders",
        ),
        (
            step("return", order_id="#W4566809", items=[ItemRef(text="air purifier")]),
            "raj_sanchez_2970",
            "only delivered orders",
        ),
        (
            step("order_status", "orders", order_id="#W2611340"),
            "noah_brown_6181",
            "couldn't find order #W2611340",
        ),
        (
            step("return", order_id="#W7678072", items=[ItemRef(text="toaster")]),
            "noah_brown_6181",
            "It has: the Electric Kettle",
        ),
    ],
    ids=[
        "exchange-other-product",
        "cancel-needs-reason",
        "cancel-not-pending",
        "return-not-delivered",
        "other-customers-order",
        "item-not-in-order",
    ],
)
def test_refusals_and_questions(the_step, customer, says):
    report, _ = run(the_step, customer)
    assert report.proposal is None
    assert says.lower() in report.reply.lower()


def test_order_status_reply_is_complete():
    report, called = run(step("order_status", "orders", order_id="#W7678072"), "noah_brown_6181")
    assert called == ["get_order_details"]
    for fact in ["#W7678072", "delivered", "Electric Kettle", "$146.98", "517177699738", "PayPal"]:
        assert fact in report.reply


def test_recommendation_is_available_matching_and_ranked():
    the_step = step(
        "recommend",
        "recommendations",
        product_type="Electric Kettle",
        wanted={"color": "white"},
        price_max=150.0,
    )
    report, _ = run(the_step, "noah_brown_6181")
    kettles = DB["products"]["1075968781"]["variants"]
    shown = [kettles[i] for i in report.item_ids]
    assert shown and all(v["available"] and v["options"]["color"] == "white" for v in shown)
    assert all(v["price"] <= 150 for v in shown)
    assert "as you asked" in report.reply


@pytest.fixture(scope="module")
def green_like_my_shirt() -> tuple[StepReport, list[list[str]]]:
    # evelyn_brown_7612's last order holds a blue T-Shirt; no T-Shirt comes in green.
    the_step = step(
        "recommend",
        "recommendations",
        order_ref="latest",
        items=[BLUE_SHIRT],
        wanted={"color": "green"},
    )
    return rounds(the_step, "evelyn_brown_7612")


def test_recommendation_fits_in_four_model_calls(green_like_my_shirt):
    _, moves = green_like_my_shirt
    assert len(moves) + 1 <= 4, moves  # + 1: the call that writes the reply
    assert set(moves[0]) == {"get_user_details", "list_all_product_types"}


def test_recommendation_says_plainly_the_same_product_lacks_the_colour(green_like_my_shirt):
    report, _ = green_like_my_shirt
    head, *lines = report.reply.splitlines()
    assert "T-Shirt doesn't come in green" in head and "different products" in head
    variants = {i: v for p in DB["products"].values() for i, v in p["variants"].items()}
    shown = [variants[i] for i in report.item_ids]
    assert shown and all(v["available"] and v["options"]["color"] == "green" for v in shown)
    assert len(lines) == len(shown)
    assert all("a different product, not a T-Shirt" in line for line in lines)
    assert "more than yours ($50.88)" in lines[0]


def test_recommendation_states_only_prices_from_the_tool_results(green_like_my_shirt):
    report, _ = green_like_my_shirt
    variants = {i: v for p in DB["products"].values() for i, v in p["variants"].items()}
    stated = set(re.findall(r"\$(\d+\.\d\d)", report.reply))
    read = {f"{variants[i]['price']:.2f}" for i in report.item_ids} | {"50.88"}
    assert stated and stated <= read


def test_offline_llm_emits_llm_events_and_native_tool_calls():
    seen = []
    prompt = step("order_status", "orders", order_id="#W7678072").to_prompt()
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_order_details",
                "parameters": {"properties": {"order_id": {"type": "string"}}},
            },
        }
    ]
    with crewai_event_bus.scoped_handlers():

        @crewai_event_bus.on(LLMCallStartedEvent)
        def started(source, event):
            seen.append("started")

        @crewai_event_bus.on(LLMCallCompletedEvent)
        def completed(source, event):
            seen.append("completed")

        answer_ = OfflineLLM().call([{"role": "user", "content": prompt}], tools=tools)
        crewai_event_bus.flush()
    assert answer_[0]["function"]["name"] == "get_order_details"
    assert json.loads(answer_[0]["function"]["arguments"]) == {"order_id": "#W7678072"}
    assert seen.count("started") == 1 and seen.count("completed") == 1

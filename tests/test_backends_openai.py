"""The OpenAI-compatible path against a scripted local server: tool calls, retries, breaker,
budgets. No real provider is ever reached (the suite refuses non-loopback connections)."""

from __future__ import annotations

import json

import pytest
from crewai import Agent
from crewai.tools import BaseTool
from pydantic import BaseModel, Field

from crew.backends.openai_compat import ConsecutiveFailureBreaker, OpenAICompatLLM
from crew.backends.usage import ModelCallBudgetExceeded, meter
from crew.plan import Step, StepReport, report_from_text
from tests.fakes.openai_server import FakeOpenAI, error, slow, text, tool_call

ORDER = {
    "order_id": "#W0000001",
    "status": "delivered",
    "items": [{"name": "Lamp", "item_id": "1", "product_id": "9", "price": 10.0, "options": {}}],
    "fulfillments": [{"tracking_id": ["123456"], "item_ids": ["1"]}],
    "payment_history": [
        {"transaction_type": "payment", "amount": 10.0, "payment_method_id": "paypal_1"}
    ],
}


class OrderArgs(BaseModel):
    order_id: str


class OrderLookup(BaseTool):
    name: str = "get_order_details"
    description: str = "The details of one order."
    args_schema: type[BaseModel] = OrderArgs
    calls: list[str] = Field(default_factory=list)

    def _run(self, order_id: str) -> str:
        self.calls.append(order_id)
        return json.dumps(ORDER)


@pytest.fixture
def server():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def _llm(server: FakeOpenAI, **overrides) -> OpenAICompatLLM:
    options = {"timeout": 0.5, "max_retries": 2, "backoff": 0.01}
    options["breaker"] = ConsecutiveFailureBreaker(threshold=2, cooldown=60)
    options |= overrides
    return OpenAICompatLLM(model="fake", base_url=server.base_url, api_key="k", **options)


def _agent(llm, tool: BaseTool) -> Agent:
    return Agent(
        role="Order agent",
        goal="answer",
        backstory="test",
        llm=llm,
        tools=[tool],
        max_iter=20,
        verbose=False,
    )


STEP = Step(
    id="s1",
    kind="order_status",
    agent="orders",
    intent="order_status",
    target={"order_id": "#W0000001"},
)


def test_tool_calls_round_trip(server):
    server.enqueue(tool_call("get_order_details", order_id="#W0000001"), text("It is delivered."))
    tool = OrderLookup()
    with meter.turn() as usage:
        out = _agent(_llm(server), tool).kickoff("Where is #W0000001?")
    assert out.raw == "It is delivered."
    assert tool.calls == ["#W0000001"]
    assert usage.model_calls == 2 and usage.backends == ["openai", "openai"]
    second = server.requests[1]["messages"]
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"]) == ORDER
    assert server.requests[0]["tools"][0]["function"]["name"] == "get_order_details"


@pytest.mark.parametrize(
    "failures",
    [[error(429)], [error(500)], [error(503), error(429)], [slow(1.5)]],
    ids=["429", "500", "503-then-429", "timeout"],
)
def test_transient_failures_are_retried(server, failures):
    server.enqueue(*failures, text("fine"))
    with meter.turn() as usage:
        answer = _llm(server).call([{"role": "user", "content": "hi"}])
    assert answer == "fine"
    assert len(server.requests) == len(failures) + 1
    assert usage.notices == []


def test_breaker_degrades_to_offline_with_a_notice(server):
    llm = _llm(server)  # the empty script answers 500 to everything
    tool = OrderLookup()
    with meter.turn() as usage:
        out = _agent(llm, tool).kickoff(STEP.to_prompt())
    report = report_from_text(out.raw)
    assert "#W0000001" in report.reply and "delivered" in report.reply
    assert "123456" in report.reply  # tracking, from the tool result
    assert usage.notices and "built-in" in usage.notices[0]
    assert "offline" in usage.backends
    requests_before = len(server.requests)
    assert not llm.breaker.allow()  # open: the next call does not even try the provider
    with meter.turn():
        llm.call(STEP.to_prompt(), tools=None)
    assert len(server.requests) == requests_before


def test_non_retryable_error_is_not_retried(server):
    server.enqueue(error(400))
    with meter.turn() as usage:
        report = report_from_text(_llm(server).call(STEP.to_prompt()))
    assert len(server.requests) == 1
    assert isinstance(report, StepReport) and usage.notices


def test_budget_stops_a_server_looping_on_tool_calls(server):
    server.loop_tool_call = ("get_order_details", {"order_id": "#W0000001"})
    tool = OrderLookup()
    with meter.turn(max_model_calls=4) as usage, pytest.raises(ModelCallBudgetExceeded):
        _agent(_llm(server), tool).kickoff("Where is my order?")
    assert usage.model_calls == 4
    assert len(server.requests) == 4

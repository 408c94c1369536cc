"""The OpenAI-compatible path against a scripted local server: tool calls, retries, breaker,
budgets, quoting. No real provider is ever reached (the suite refuses non-loopback connections).

Tools are the store's own, bound to a demo customer, and every agent runs under the fail-closed
governance hook inside a turn budget, as in the app.
"""

from __future__ import annotations

import pytest
from crewai import Agent

from crew.agents import Specialists
from crew.backends.openai_compat import OpenAICompatLLM
from crew.backends.usage import meter
from crew.plan import Passage as StepPassage
from crew.plan import Step, StepReport, report_from_text
from crew.tools import ToolContext, build_tool
from guardrails import budgets, quoting
from guardrails.breaker import CircuitBreaker
from guardrails.messages import say
from knowledge.passages import PREAMBLE, Passage, passages_as_data
from tests.fakes.openai_server import FakeOpenAI, error, slow, text, tool_call
from tests.knowledge_support import passage as make_passage
from tests.store_support import DELIVERED, OWNER, PENDING

CONVERSATION = "conv-openai"


@pytest.fixture
def server():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def order_tool(store):
    context = ToolContext(engine=store, customer_id=OWNER, conversation_id=CONVERSATION)
    return build_tool(context, "get_order_details")


def _llm(server: FakeOpenAI, **overrides) -> OpenAICompatLLM:
    options = {"timeout": 0.5, "max_retries": 2, "backoff": 0.01}
    options["breaker"] = CircuitBreaker(threshold=2, cooldown=60)
    options |= overrides
    return OpenAICompatLLM(model="fake", base_url=server.base_url, api_key="k", **options)


def _agent(llm, tool) -> Agent:
    return Agent(
        role="Order agent",
        goal="answer",
        backstory="test",
        llm=llm,
        tools=[tool],
        max_iter=20,
        verbose=False,
    )


def _turn(limits: budgets.Limits | None = None):
    return budgets.turn_budget(limits=limits, conversation_id=CONVERSATION)


STEP = Step(
    id="s1",
    kind="order_status",
    agent="orders",
    intent="order_status",
    target={"order_id": DELIVERED},
)


def test_tool_calls_round_trip_with_results_quoted(server, order_tool):
    server.enqueue(tool_call("get_order_details", order_id=PENDING), text("It is pending."))
    with _turn() as budget, meter.turn() as usage:
        out = _agent(_llm(server), order_tool).kickoff(f"Where is {PENDING}?")
    assert out.raw == "It is pending."
    assert (budget.model_calls, budget.tool_calls) == (2, 1)
    assert usage.backends == ["openai", "openai"]
    assert server.requests[0]["tools"][0]["function"]["name"] == "get_order_details"
    result = server.requests[1]["messages"][-1]
    assert result["role"] == "tool"
    # The store's answer reaches the model only inside a nonce-delimited untrusted-data block.
    notice = say("quoting", "notice", source="tool result of get_order_details")
    assert result["content"].startswith(notice)
    assert f"<{quoting.TAG} " in result["content"] and f"</{quoting.TAG} " in result["content"]
    assert PENDING in result["content"] and "Luggage Set" in result["content"]


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


def test_breaker_degrades_to_offline_with_a_notice(server, order_tool):
    llm = _llm(server)  # the empty script answers 500 to everything
    with _turn(), meter.turn() as usage:
        out = _agent(llm, order_tool).kickoff(STEP.to_prompt())
    report = report_from_text(out.raw)
    assert DELIVERED in report.reply and "delivered" in report.reply
    assert "443521489581" in report.reply  # tracking, from the store's record
    assert usage.notices and "built-in" in usage.notices[0]
    assert "offline" in usage.backends
    requests_before = len(server.requests)
    assert not llm.breaker.allow()  # open: the next call does not even try the provider
    with _turn(), meter.turn():
        llm.call(STEP.to_prompt(), tools=None)
    assert len(server.requests) == requests_before


def test_the_shared_breaker_is_the_guardrails_one(server):
    from guardrails.breaker import provider_breaker

    llm = OpenAICompatLLM(model="fake", base_url=server.base_url, api_key="k")
    assert llm.breaker is provider_breaker()


def test_non_retryable_error_is_not_retried(server):
    server.enqueue(error(400))
    with meter.turn() as usage:
        report = report_from_text(_llm(server).call(STEP.to_prompt()))
    assert len(server.requests) == 1
    assert isinstance(report, StepReport) and usage.notices


def test_repetition_stops_a_server_looping_on_one_tool_call(server, order_tool):
    server.loop_tool_call = ("get_order_details", {"order_id": PENDING})
    with _turn() as budget, pytest.raises(budgets.RepetitionDetected):
        _agent(_llm(server), order_tool).kickoff("Where is my order?")
    # The third identical call is denied by the hook; the next model call ends the turn.
    assert budget.tool_calls == 2
    assert budget.tripped is not None and budget.tripped.kind == "repetition"
    assert len(server.requests) == 3


def test_model_call_budget_stops_a_server_that_keeps_calling_tools(server, order_tool):
    others = ["#W0000001", "#W0000002", "#W0000003", "#W0000004", "#W0000005"]
    server.enqueue(*(tool_call("get_order_details", order_id=o) for o in others))
    with _turn(budgets.Limits(model_calls=4)) as budget, pytest.raises(budgets.BudgetExceeded):
        _agent(_llm(server), order_tool).kickoff("Where is my order?")
    assert budget.tripped.kind == "model_calls"
    assert len(server.requests) == 4


POLICY_TEXT = "Refunds go back to the original payment method within 5 business days."


def _policy_step(passage: Passage) -> Step:
    quoted = StepPassage(
        text=passage.text, title=passage.title, section=passage.section, version=3, doc_id="x"
    )
    return Step(
        id="p1",
        kind="policy",
        agent="policy",
        intent="policy_question",
        request="how do refunds work?",
        passages=[quoted],
    )


def test_passages_reach_the_model_once_and_quoted(server, store):
    passage = make_passage(POLICY_TEXT)
    server.enqueue(text('{"reply": "They go back to your card."}'))
    specialists = Specialists(llms={"policy": _llm(server)})
    context = ToolContext(engine=store, customer_id=OWNER, conversation_id=CONVERSATION)
    with _turn():
        run = specialists.run(_policy_step(passage), context, passages_as_data([passage]))
    assert run.report.reply == "They go back to your card."
    prompt = "\n".join(
        m["content"] for m in server.requests[0]["messages"] if m["role"] in {"user", "system"}
    )
    assert PREAMBLE in prompt and f"> {POLICY_TEXT}" in prompt
    assert prompt.count(POLICY_TEXT) == 1  # not again, unquoted, inside the step's JSON


def test_degraded_policy_answer_still_has_its_passages(server, store):
    passage = make_passage(POLICY_TEXT)
    specialists = Specialists(llms={"policy": _llm(server)})  # every request fails
    context = ToolContext(engine=store, customer_id=OWNER, conversation_id=CONVERSATION)
    with _turn(), meter.turn() as usage:
        run = specialists.run(_policy_step(passage), context, passages_as_data([passage]))
    assert usage.notices and "offline" in usage.backends
    assert "original payment method" in run.report.reply

"""The specialist agents: prose from `config/*.yaml`, least-privilege tools, hard limits.

`Specialists.run(step, context, passages)` runs one step with the agent the step names and
returns the typed `StepReport` plus the tool results it saw (the flow grounds replies and
remembers context from them). Agents are built per step because their tools are bound to the
conversation's customer and confirmation; the models (LLM objects) are shared. No agent runs
without the fail-closed tool governance hook (`guardrails.governance`): building one registers
it (idempotent), so a test or a tool that unregistered it cannot leave agents unguarded.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from crewai import Agent
from crewai.llms.base_llm import BaseLLM
from pydantic import BaseModel, Field, ValidationError

from crew import llm as backends
from crew.backends.offline import OfflineLLM
from crew.backends.planner import ToolFailed, parse_result
from crew.plan import Step, StepReport, ToolCall, report_from_text
from crew.tools.context import ToolContext
from guardrails import governance

CONFIG = Path(__file__).parent / "config"

READS = ("get_user_details", "get_order_details", "get_product_details")
# Least privilege: each agent holds only the tools its job needs.
AGENT_TOOLS: dict[str, tuple[str, ...]] = {
    "orders": (
        *READS,
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
    ),
    "returns": (*READS, "return_delivered_order_items", "exchange_delivered_order_items"),
    "recommendations": (*READS, "list_all_product_types"),
    "policy": (),
}
WRITE_TOOLS = frozenset(
    name for tools in AGENT_TOOLS.values() for name in tools if name not in READS
) - {"list_all_product_types"}

MAX_ITER = 8  # a step needs at most ~5 model calls; more means a loop
# CrewAI's own stop for a stuck agent; the turn's budget (guardrails.budgets) also counts time.
MAX_EXECUTION_SECONDS = 30
MAX_RPM = 120  # per agent; protects a paid provider from a runaway loop
# What CrewAI hands the model instead of a result when a before_tool_call hook denied the call.
BLOCKED_BY_HOOK = "Tool execution blocked by hook"
UNCONFIRMED = {"blocked", "confirmation_required"}  # how a write tried too early comes back


@cache
def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONFIG / name).read_text(encoding="utf-8"))


def quiet_console() -> None:
    """CrewAI prints Rich panels for every agent and flow unless told not to (PITFALLS.md)."""
    from crewai.events.event_listener import event_listener

    event_listener.formatter.console.quiet = True
    event_listener.formatter.verbose = False


class Observation(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    # The error kind when the tool refused, or "blocked" when tool governance denied the call.
    error: str | None = None


class AgentRun(BaseModel):
    report: StepReport
    observations: list[Observation] = Field(default_factory=list)


def observations(messages: list[dict[str, Any]]) -> list[Observation]:
    """Every tool call of the run with its parsed result, in order."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    seen: list[Observation] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            arguments = function.get("arguments") or "{}"
            try:
                parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
            except ValueError:
                parsed = {}
            calls[call.get("id", "")] = (function.get("name", ""), parsed)
        if message.get("role") == "tool" and message.get("tool_call_id") in calls:
            name, arguments = calls[message["tool_call_id"]]
            content = message.get("content")
            if isinstance(content, str) and content.startswith(BLOCKED_BY_HOOK):
                seen.append(Observation(tool=name, arguments=arguments, error="blocked"))
                continue
            try:
                seen.append(
                    Observation(
                        tool=name,
                        arguments=arguments,
                        result=parse_result(name, message.get("content")),
                    )
                )
            except ToolFailed as failed:
                seen.append(
                    Observation(
                        tool=name, arguments=arguments, error=failed.kind, result=failed.message
                    )
                )
    return seen


def _refused_write(step: Step, seen: list[Observation]) -> ToolCall | None:
    """A write of this agent's that the model tried before the customer confirmed it (governance
    blocked it, or the tool refused it): the proposal it meant to make, if its arguments are
    valid. The flow still words it from the records and asks the customer before it runs."""
    from crew.tools import SPECS

    held = set(AGENT_TOOLS[step.agent]) & WRITE_TOOLS
    for observation in reversed(seen):
        if observation.tool not in held or observation.error not in UNCONFIRMED:
            continue
        try:
            arguments = SPECS[observation.tool].schema.model_validate(observation.arguments)
        except ValidationError:
            continue
        return ToolCall(tool=observation.tool, arguments=arguments.model_dump(mode="json"))
    return None


class Specialists:
    def __init__(self, llms: dict[str, BaseLLM] | None = None) -> None:
        """`llms`: the model of some layers, given (tests script one); the others come from
        the configured backend (`crew.llm`)."""
        self._llms: dict[str, BaseLLM] = dict(llms or {})
        quiet_console()

    def llm(self, layer: str) -> BaseLLM:
        if layer not in self._llms:
            self._llms[layer] = backends.llm_for(layer)
        return self._llms[layer]

    def agent(self, step: Step, context: ToolContext) -> Agent:
        governance.register_hook()
        names = [n for n in AGENT_TOOLS[step.agent] if not step.tools or n in step.tools]
        tools = []
        if names:
            from crew.tools import build_tools

            tools = build_tools(context, names)
        return Agent(
            **_yaml("agents.yaml")[step.agent],
            llm=self.llm(step.agent),
            tools=tools,
            max_iter=MAX_ITER,
            max_execution_time=MAX_EXECUTION_SECONDS,
            max_rpm=MAX_RPM,
            verbose=False,
            allow_delegation=False,
        )

    def prompt(self, step: Step, passages: str = "") -> str:
        """The agent's task. A model reads the step's passages as quoted data (`passages`, from
        `knowledge.passages_as_data`; its backend takes them out of the step's JSON); the
        offline planner reads the step alone, so no retrieved text can pose as a step for it."""
        task = _yaml("tasks.yaml")["step"]
        if isinstance(self.llm(step.agent), OfflineLLM):
            passages = ""
        description = task["description"].format(step=step.to_prompt(), passages=passages)
        return f"{description}\n\nExpected output: {task['expected_output'].format()}"

    def run(self, step: Step, context: ToolContext, passages: str = "") -> AgentRun:
        output = self.agent(step, context).kickoff(self.prompt(step, passages))
        seen = observations(list(output.messages))
        report = report_from_text(output.raw)
        if report.proposal is None and step.kind != "execute":
            report.proposal = _refused_write(step, seen)
        return AgentRun(report=report, observations=seen)
